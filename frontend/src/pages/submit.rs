//! `/submit`: the submission forms. An API judge (endpoint, model, settings), a checkpoint
//! upload (a Hugging Face folder's files, or a chat model's one GGUF file, with the generative
//! judge's decoding options) and a model named by Hub repository and revision.
//! All post to the server, which validates
//! them with the API's own rules and shows its errors here, beside the fields; once hydrated,
//! the upload is checked in the browser first and sent with a progress bar.

use leptos::prelude::*;
use omnireward_shared::Task;

use crate::data;

/// File names a checkpoint upload refuses (pickled weights can run code when loaded).
const PICKLE_SUFFIXES: [&str; 5] = [".bin", ".pt", ".pth", ".pkl", ".ckpt"];

/// What the browser can tell about a chosen set of files before sending them: `Err` with the
/// reason to show. The server checks everything again.
pub fn check_checkpoint_files(
    names_and_sizes: &[(String, u64)],
    max_bytes: Option<u64>,
) -> Result<(), String> {
    if names_and_sizes.is_empty() {
        return Err("Choose the checkpoint's files: config.json, the *.safetensors weights and the tokenizer files.".to_owned());
    }
    if let Some((name, _)) = names_and_sizes
        .iter()
        .find(|(name, _)| PICKLE_SUFFIXES.iter().any(|suffix| name.ends_with(suffix)))
    {
        return Err(format!(
            "{name} is a pickle file; only safetensors weights are accepted."
        ));
    }
    let gguf = names_and_sizes
        .iter()
        .any(|(name, _)| name.to_ascii_lowercase().ends_with(".gguf"));
    if gguf && names_and_sizes.len() > 1 {
        return Err("A GGUF chat model is one file: choose the .gguf file alone.".to_owned());
    }
    if gguf {
        // A GGUF file holds its configuration, tokenizer and chat template.
    } else if !names_and_sizes
        .iter()
        .any(|(name, _)| name == "config.json")
    {
        return Err("config.json is missing: it names the architecture.".to_owned());
    } else if !names_and_sizes
        .iter()
        .any(|(name, _)| name.ends_with(".safetensors"))
    {
        return Err("No *.safetensors weights among the files.".to_owned());
    }
    let total: u64 = names_and_sizes.iter().map(|(_, size)| size).sum();
    if let Some(max) = max_bytes.filter(|max| total > *max) {
        return Err(format!(
            "The files add up to {total} bytes; this server accepts at most {max}."
        ));
    }
    Ok(())
}

/// Sends the upload form with a progress bar and follows the server's answer (browser only).
#[cfg(feature = "hydrate")]
fn send_with_progress(
    form: web_sys::HtmlFormElement,
    max_bytes: Option<u64>,
    error: RwSignal<Option<String>>,
    sent: RwSignal<Option<(f64, f64)>>,
) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    let files = form
        .elements()
        .named_item("files")
        .and_then(|element| element.dyn_into::<web_sys::HtmlInputElement>().ok())
        .and_then(|input| input.files());
    let mut chosen = Vec::new();
    if let Some(files) = &files {
        for index in 0..files.length() {
            if let Some(file) = files.item(index) {
                chosen.push((file.name(), file.size() as u64));
            }
        }
    }
    if let Err(reason) = check_checkpoint_files(&chosen, max_bytes) {
        error.set(Some(reason));
        return;
    }
    error.set(None);
    let (Ok(request), Ok(body)) = (
        web_sys::XmlHttpRequest::new(),
        web_sys::FormData::new_with_form(&form),
    ) else {
        // Without XHR the plain form post still works.
        let _ = form.submit();
        return;
    };
    let on_progress =
        Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |event: web_sys::ProgressEvent| {
            sent.set(Some((event.loaded(), event.total())));
        });
    if let Ok(upload) = request.upload() {
        upload.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    }
    let answered = request.clone();
    let on_load = Closure::<dyn FnMut()>::new(move || {
        // The server answers with the status page (after a redirect) or the form with its error:
        // show that document.
        let url = answered.response_url();
        if let Some(window) = web_sys::window() {
            if answered.status().unwrap_or(0) < 400 && !url.is_empty() {
                let _ = window.location().set_href(&url);
            } else if let (Ok(Some(text)), Some(document)) = (
                answered.response_text(),
                window
                    .document()
                    .and_then(|document| document.document_element()),
            ) {
                // The refusal page is complete without the bundle: its form posts normally.
                document.set_inner_html(&text);
            }
        }
    });
    request.set_onload(Some(on_load.as_ref().unchecked_ref()));
    on_progress.forget();
    on_load.forget();
    if request.open("POST", &form.action()).is_ok() {
        let _ = request.send_with_opt_form_data(Some(&body));
    }
}

/// The submission page.
#[component]
pub fn SubmitPage(page: data::SubmitPage) -> impl IntoView {
    let form = page.api_judge;
    let settings =
        |value: &str| form.settings == value || (form.settings.is_empty() && value == "both");
    let upload_error = RwSignal::new(page.checkpoint_error);
    let sent = RwSignal::new(None::<(f64, f64)>);
    let max_upload = page.max_upload_bytes;
    view! {
            <section class="submit">
                <h1>"Submit a model"</h1>
                <p class="lead">"Submissions are queued and evaluated on this server's benchmark; \
                    results appear on the leaderboard with their run record. Follow them on the "
                    <a href="/queue">"queue"</a> "."</p>
                <p class="served" id="scored-on">
                    {format!("Scored on: {}. These scores are ranked with this benchmark's rows only, \
                              never with the paper's (full release) rows.", page.served.description())}
                </p>
                <div class="forms">
                <form class="card" method="post" action="/submit" id="api-judge-form">
                    <h2>"API judge"</h2>
                    <p class="hint">"Any OpenAI-compatible chat-completions endpoint (vLLM, hosted models)."</p>
                    {page.api_judge_error.map(|error| view! { <p class="error" role="alert" id="api-judge-error">{error}</p> })}
                    <label for="name">"Leaderboard name " <span class="hint">"(optional; default the model)"</span></label>
                    <input id="name" name="name" value=form.name.clone() maxlength="200"/>
                    <label for="endpoint">"Endpoint"</label>
                    <input id="endpoint" name="endpoint" type="url" required=true placeholder="https://host/v1" value=form.endpoint.clone()/>
                    <label for="model">"Model"</label>
                    <input id="model" name="model" required=true placeholder="Qwen/Qwen2.5-VL-7B-Instruct" value=form.model.clone()/>
                    <label for="api_key_env">"Key variable " <span class="hint">"(optional)"</span></label>
                    <input id="api_key_env" name="api_key_env" placeholder="OMNIREWARD_KEY_MYLAB" value=form.api_key_env.clone() autocomplete="off"/>
    <label for="api_key">"API key " <span class="hint">"(optional)"</span></label>
                    <input id="api_key" name="api_key" type="password" autocomplete="off" spellcheck="false"/>
                    <p class="hint">"The key is held in this server's memory for this evaluation only: never stored, \
                        logged or shown again, and forgotten when the server stops. Or leave it empty and name a \
                        workers' environment variable (OMNIREWARD_KEY_…) that holds it."</p>
                    <fieldset>
                        <legend>"Settings"</legend>
                        <label><input type="radio" name="settings" value="both" checked=settings("both")/>" both"</label>
                        <label><input type="radio" name="settings" value="with_ties" checked=settings("with_ties")/>" with ties"</label>
                        <label><input type="radio" name="settings" value="without_ties" checked=settings("without_ties")/>" without ties"</label>
                    </fieldset>
                    <fieldset class="tasks">
                        <legend>"Tasks " <span class="hint">"(none checked: all nine)"</span></legend>
                        {Task::ALL.into_iter().map(|task| view! {
                            <label title=task.key()><input type="checkbox" name="tasks" value=task.key() checked=form.tasks.contains(&task)/>" " {task.short_name()}</label>
                        }).collect_view()}
                    </fieldset>
                    <label><input type="checkbox" name="swap" value="true" checked=form.swap/>" Also judge with A and B swapped (order-bias check; twice the requests)"</label>
                    <div class="row">
                        <label>"Temperature " <input name="temperature" inputmode="decimal" size="5" value=form.temperature.clone()/></label>
                        <label>"Max tokens " <input name="max_tokens" inputmode="numeric" size="6" value=form.max_tokens.clone()/></label>
                        <label>"Concurrency " <input name="concurrency" inputmode="numeric" size="4" value=form.concurrency.clone()/></label>
                    </div>
                    <button type="submit">"Submit the API judge"</button>
                </form>
                <form class="card" method="post" action="/submit/checkpoint" enctype="multipart/form-data" id="checkpoint-form"
                    on:submit=move |event| {
                        #[cfg(feature = "hydrate")]
                        {
                            use wasm_bindgen::JsCast;
                            event.prevent_default();
                            if let Some(form) = event.target().and_then(|target| target.dyn_into::<web_sys::HtmlFormElement>().ok()) {
                                send_with_progress(form, max_upload, upload_error, sent);
                            }
                        }
                        #[cfg(not(feature = "hydrate"))]
                        let _ = event;
                    }>
                    <h2>"Checkpoint"</h2>
                    {match max_upload {
                        Some(max) => view! { <p class="hint">{format!("A Hugging Face folder: config.json, *.safetensors weights and tokenizer files, at most {} MB in all. Pickle files are refused. A chat model (a Qwen2, Qwen3 or Llama *ForCausalLM folder with its chat template, or one .gguf file of the llama or qwen2 architecture) is run as a generative judge with the built-in prompts.", max / 1_000_000)}</p> }.into_any(),
                        None => view! { <p class="hint error">"This server does not accept checkpoint uploads (start it with --uploads)."</p> }.into_any(),
                    }}
                    {move || upload_error.get().map(|error| view! { <p class="error" role="alert" id="checkpoint-error">{error}</p> })}
                    <input type="hidden" name="kind" value="checkpoint"/>
                    <label for="checkpoint-name">"Leaderboard name"</label>
                    <input id="checkpoint-name" name="name" required=true maxlength="200"/>
                    <label for="files">"Files"</label>
                    <input id="files" name="files" type="file" multiple=true required=true accept=".json,.safetensors,.txt,.model,.jinja,.gguf"/>
                    <details id="generation-options">
                        <summary>"Chat models: decoding options"</summary>
                        <p class="hint">"Used only when the checkpoint is a chat model; empty fields take the defaults of omnireward eval checkpoint. The first query is greedy; unparseable verdicts are asked again, sampled with the seed."</p>
                        <div class="row">
                            <label>"Max new tokens " <input name="max_new_tokens" inputmode="numeric" size="6" placeholder="512"/></label>
                            <label>"Queries per item " <input name="verdict_attempts" inputmode="numeric" size="3" placeholder="5"/></label>
                            <label>"Seed " <input name="seed" inputmode="numeric" size="8" placeholder="0"/></label>
                        </div>
                        <label><input type="checkbox" name="swap" value="true"/>" Also judge with A and B swapped (order-bias check; twice the generations)"</label>
                    </details>
                    {move || sent.get().map(|(loaded, total)| view! {
                        <progress max=total.to_string() value=loaded.to_string()></progress>
                        <span class="progress-text">{format!(" {:.0} %", if total > 0.0 { loaded / total * 100.0 } else { 0.0 })}</span>
                    })}
                    <button type="submit" disabled=max_upload.is_none()>"Upload and submit"</button>
                </form>
                <form class="card" method="post" action="/submit/hub" id="hub-form">
                    <h2>"Model on the Hugging Face Hub"</h2>
                    {match page.max_hub_bytes {
                        Some(max) => view! { <p class="hint">{format!("A model repository with config.json and *.safetensors weights, at most {} GB in all. The revision is pinned to its commit when you submit; pickle files and unsupported architectures are refused before anything is downloaded. Private or gated repositories are read with this server's own token: never send yours.", max / 1_000_000_000)}</p> }.into_any(),
                        None => view! { <p class="hint error">"This server does not take models from the Hub."</p> }.into_any(),
                    }}
                    {page.hub_checkpoint_error.map(|error| view! { <p class="error" role="alert" id="hub-error">{error}</p> })}
                    <label for="hub-repository">"Repository"</label>
                    <input id="hub-repository" name="repository" required=true placeholder="org/name" value=page.hub_checkpoint.repository.clone()/>
                    <label for="hub-revision">"Revision " <span class="hint">"(optional; default main)"</span></label>
                    <input id="hub-revision" name="revision" placeholder="main" value=page.hub_checkpoint.revision.clone()/>
                    <label for="hub-name">"Leaderboard name " <span class="hint">"(optional; default the repository)"</span></label>
                    <input id="hub-name" name="name" maxlength="200" value=page.hub_checkpoint.name.clone()/>
                    <button type="submit" disabled=page.max_hub_bytes.is_none()>"Submit the repository"</button>
                </form>
                </div>
            </section>
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_refuses_what_the_server_would() {
        let files = |names: &[(&str, u64)]| {
            names
                .iter()
                .map(|(name, size)| (name.to_string(), *size))
                .collect::<Vec<_>>()
        };
        assert!(
            check_checkpoint_files(
                &files(&[("config.json", 10), ("model.safetensors", 90)]),
                Some(100)
            )
            .is_ok()
        );
        let too_big = check_checkpoint_files(
            &files(&[("config.json", 10), ("model.safetensors", 91)]),
            Some(100),
        );
        assert!(too_big.expect_err("too big").contains("at most 100"));
        let pickle = check_checkpoint_files(
            &files(&[("config.json", 1), ("pytorch_model.bin", 1)]),
            None,
        );
        assert!(pickle.expect_err("pickle").contains("pytorch_model.bin"));
        assert!(
            check_checkpoint_files(&files(&[("model.safetensors", 1)]), None)
                .expect_err("config")
                .contains("config.json")
        );
        assert!(check_checkpoint_files(&[], None).is_err());
        assert!(check_checkpoint_files(&files(&[("SmolLM2.Q4_1.gguf", 90)]), Some(100)).is_ok());
        assert!(
            check_checkpoint_files(&files(&[("model.gguf", 1), ("config.json", 1)]), None)
                .expect_err("a GGUF file with others")
                .contains("alone")
        );
    }
}
