//! The benchmark browser's lists (issue 20, addition 12): each sample's share of evaluated runs
//! that judged it right, sortable; thumbnails; the ties filter; previous and next on sample
//! pages within the list they were opened from.

use omnireward_frontend::data::Page;
use omnireward_shared::Preference;
use tempfile::TempDir;

use crate::web_compare::two_evaluated;
use crate::web_pages::get;

fn benchmark_page(
    reply: &crate::support::test_app::Reply,
) -> omnireward_frontend::data::BenchmarkPage {
    match reply.page() {
        Page::Benchmark(page) => page,
        other => panic!("not the benchmark page: {other:?}"),
    }
}

#[tokio::test]
async fn samples_show_how_many_runs_got_them_right_and_sort_by_it() {
    let folder = TempDir::new().expect("temporary folder");
    // "always A" and an oracle: with ties, a pair labelled response 1 is right for both, any
    // other pair for the oracle only.
    let (_storage, router) = two_evaluated(&folder).await;
    let reply = get(&router, "/benchmark?task=text_to_text").await;
    let page = benchmark_page(&reply);
    assert_eq!(page.runs_counted, 2);
    assert!(!page.samples.items.is_empty());
    for sample in &page.samples.items {
        let share = page.difficulty[&sample.id].with_ties.expect("judged");
        let expected = if sample.label == Preference::Response1 {
            2
        } else {
            1
        };
        assert_eq!((share.right, share.judged), (expected, 2), "{}", sample.id);
    }
    assert!(
        reply.text().contains("2 of 2 runs (100 %)") || reply.text().contains("1 of 2 runs (50 %)")
    );

    // Hardest first: every pair only the oracle got right comes before every pair both got.
    let hardest = benchmark_page(&get(&router, "/benchmark?task=text_to_text&order=hardest").await);
    let shares: Vec<usize> = hardest
        .samples
        .items
        .iter()
        .map(|sample| {
            hardest.difficulty[&sample.id]
                .with_ties
                .expect("judged")
                .right
        })
        .collect();
    assert!(
        shares.windows(2).all(|pair| pair[0] <= pair[1]),
        "{shares:?}"
    );
    assert!(
        shares.first() < shares.last(),
        "the list has both kinds: {shares:?}"
    );
    let easiest = benchmark_page(&get(&router, "/benchmark?task=text_to_text&order=easiest").await);
    assert_eq!(
        easiest.difficulty[&easiest.samples.items[0].id]
            .with_ties
            .expect("judged")
            .right,
        2
    );
    // Links keep the order: the sample links and the pager.
    let reply = get(&router, "/benchmark?task=text_to_text&order=hardest").await;
    assert!(reply.text().contains(&format!(
        "/benchmark/text_to_text/{}?order=hardest",
        hardest.samples.items[0].id
    )));
}

#[tokio::test]
async fn the_list_filters_ties_and_shows_thumbnails() {
    let folder = TempDir::new().expect("temporary folder");
    let (_storage, router) = two_evaluated(&folder).await;
    let all = benchmark_page(&get(&router, "/benchmark?task=text_to_image").await);
    let ties = benchmark_page(&get(&router, "/benchmark?task=text_to_image&ties=tie").await);
    let others = benchmark_page(&get(&router, "/benchmark?task=text_to_image&ties=not_tie").await);
    assert!(ties.samples.total > 0 && others.samples.total > 0);
    assert_eq!(ties.samples.total + others.samples.total, all.samples.total);
    assert!(
        ties.samples
            .items
            .iter()
            .all(|sample| sample.label == Preference::Tie)
    );
    assert!(
        others
            .samples
            .items
            .iter()
            .all(|sample| sample.label != Preference::Tie)
    );
    // Image responses as thumbnails, two per row.
    let reply = get(&router, "/benchmark?task=text_to_image").await;
    assert_eq!(
        reply.text().matches(r#"class="thumb""#).count(),
        2 * all.samples.items.len()
    );
    // A task whose prompt carries the image: the prompt's image.
    let reply = get(&router, "/benchmark?task=text_image_to_text").await;
    let page = benchmark_page(&reply);
    let with_prompt_image = page
        .samples
        .items
        .iter()
        .filter(|sample| sample.prompt_media.is_some())
        .count();
    assert!(with_prompt_image > 0);
    assert_eq!(
        reply.text().matches(r#"alt="Prompt image""#).count(),
        with_prompt_image
    );
    // Text responses: none.
    let reply = get(&router, "/benchmark?task=text_to_text").await;
    assert!(!reply.text().contains(r#"class="thumb""#));
}

#[tokio::test]
async fn a_sample_page_steps_through_the_list_it_was_opened_from() {
    let folder = TempDir::new().expect("temporary folder");
    let (_storage, router) = two_evaluated(&folder).await;
    let list = benchmark_page(&get(&router, "/benchmark?task=text_to_text&order=hardest").await);
    let ids: Vec<&str> = list
        .samples
        .items
        .iter()
        .map(|sample| sample.id.as_str())
        .collect();
    assert!(ids.len() >= 3);

    let reply = get(
        &router,
        &format!("/benchmark/text_to_text/{}?order=hardest", ids[1]),
    )
    .await;
    let Page::Sample(page) = reply.page() else {
        panic!("not a sample page");
    };
    let neighbours = page.neighbours.expect("in the list");
    assert_eq!(neighbours.previous.as_deref(), Some(ids[0]));
    assert_eq!(neighbours.next.as_deref(), Some(ids[2]));
    assert_eq!(
        (neighbours.position, neighbours.of),
        (2, list.samples.total)
    );
    let text = reply.text();
    assert!(text.contains(&format!(
        r#"href="/benchmark/text_to_text/{}?order=hardest" rel="next""#,
        ids[2]
    )));
    assert!(text.contains(&format!("2 of {} in this list", list.samples.total)));
    // Its difficulty, with ties and without.
    let difficulty = page.difficulty.expect("judged");
    assert_eq!(difficulty.with_ties.expect("judged").judged, 2);
    assert!(text.contains(r#"id="sample-difficulty""#));
    assert!(text.contains("of 2 finished evaluated runs"));

    // The first of the list has no previous; the benchmark's order is another list.
    let Page::Sample(first) = get(
        &router,
        &format!("/benchmark/text_to_text/{}?order=hardest", ids[0]),
    )
    .await
    .page() else {
        panic!("not a sample page");
    };
    assert_eq!(first.neighbours.expect("in the list").previous, None);
    // A sample the filter leaves out has no place in that list.
    let tie = list
        .samples
        .items
        .iter()
        .find(|sample| sample.label == Preference::Tie)
        .map(|sample| sample.id.clone());
    if let Some(tie) = tie {
        let Page::Sample(page) = get(
            &router,
            &format!("/benchmark/text_to_text/{tie}?ties=not_tie"),
        )
        .await
        .page() else {
            panic!("not a sample page");
        };
        assert_eq!(page.neighbours, None);
    }
}
