// End-to-end checks of the web app in a real headless Chromium (Debian's, driven by
// playwright-core), against a real `omnireward serve` the Rust test harness started
// (backend/tests/web_e2e.rs). Exits non-zero with a message on the first failed check.
//
// Environment: BASE_URL (the server), JUDGE_ENDPOINT and JUDGE_MODEL (the harness's
// OpenAI-compatible judge), SCREENSHOTS (folder for the page screenshots), CHROMIUM (binary).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const base = process.env.BASE_URL;
const screenshots = process.env.SCREENSHOTS ?? "target/screenshots";
const judgeEndpoint = process.env.JUDGE_ENDPOINT;
const judgeModel = process.env.JUDGE_MODEL;
mkdirSync(screenshots, { recursive: true });

function check(condition, message) {
  if (!condition) {
    throw new Error(`check failed: ${message}`);
  }
  console.log(`ok: ${message}`);
}

// 1. Before any script runs: the server's HTML already has the table and the paper's rows.
const raw = await (await fetch(`${base}/`)).text();
check(raw.includes('<table class="scores"'), "the leaderboard HTML contains the table before hydration");
check(raw.includes("Qwen2.5-Omni-7B") && raw.includes('class="badge paper"'), "paper-reported rows are in the served HTML");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
page.on("console", (message) => {
  if (message.type() === "error") {
    problems.push(`console error: ${message.text()}`);
  }
});
page.on("response", (response) => {
  if (response.status() >= 400) {
    problems.push(`${response.status()} for ${response.url()}`);
  }
});

// Interactive pages load the bundle and are ready once it has hydrated them; the others load
// no bundle and are ready as parsed.
const interactivePages = /^\/(\?.*)?$|^\/submit|^\/submissions\/|^\/queue/;
// (A sample page whose two responses are videos loads the bundle too, for "play both in step".)
async function open(path) {
  await page.goto(`${base}${path}`);
  const bundled = (await page.$('script[type="module"]')) !== null;
  check(bundled === interactivePages.test(path), `${path} ${bundled ? "loads" : "does not load"} the bundle`);
  if (bundled) {
    await page.waitForSelector("html[data-hydrated]", { timeout: 30000 });
  }
}

const modelNames = () => page.$$eval("table.scores tbody th.model a", (links) => links.map((link) => link.textContent));
const overallCells = () => page.$$eval("table.scores tbody tr", (rows) => rows.map((row) => row.children[4]?.textContent ?? ""));

try {
  // 2. Leaderboard: sorting and the ties toggle change the order, in place, and go to the URL.
  await open("/");
  const byOverall = await modelNames();
  check(byOverall.length >= 30, `the leaderboard lists the paper's models (${byOverall.length} rows)`);
  await page.click('th[data-column="model"] a');
  await page.waitForFunction(() => location.search.includes("sort=model"));
  const byName = await modelNames();
  check(JSON.stringify(byName) !== JSON.stringify(byOverall), "sorting by model changes the order");
  const sorted = [...byName].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  check(JSON.stringify(byName) === JSON.stringify(sorted), "rows are in name order");
  await page.click('th[data-column="overall"] a');
  await page.waitForFunction(() => location.search.includes("sort=overall") || location.search === "");
  const withTies = await modelNames();
  const withTiesScores = await overallCells();
  await page.click("text=Without ties");
  await page.waitForFunction(() => location.search.includes("setting=without_ties"));
  const withoutTies = await modelNames();
  const withoutTiesScores = await overallCells();
  check(JSON.stringify(withoutTiesScores) !== JSON.stringify(withTiesScores), "the ties toggle changes the scores");
  check(JSON.stringify(withoutTies) !== JSON.stringify(withTies), "the ties toggle changes the order");
  await page.fill('input[name="q"]', "qwen");
  await page.waitForFunction(() => location.search.includes("q=qwen"));
  const searched = await modelNames();
  check(searched.length > 0 && searched.every((name) => name.toLowerCase().includes("qwen")), "search filters by name");
  // A shared URL reproduces the view, server-rendered.
  const shared = await (await fetch(`${base}/?setting=without_ties&q=qwen`)).text();
  check(shared.includes('aria-pressed="true"') && !shared.includes(">Phi-4-Multimodal-Instruct<"), "a shared URL renders the same view on the server");
  await open("/?tasks=1");
  // Sorted by a task, the Rank column is that task's rank (issue 20, defect 4), and Text and 3D
  // (one task each) are not repeated beside T2T and T23D.
  check((await page.$('th[data-column="text"]')) === null && (await page.$('th[data-column="3d"]')) === null, "with the tasks shown, Text and 3D are not repeated");
  await page.click('th[data-column="text_to_image"] a');
  await page.waitForFunction(() => location.search.includes("sort=text_to_image"));
  const t2iRanks = await page.$$eval("table.scores tbody td.rank", (cells) => cells.map((cell) => cell.textContent.trim()));
  check(t2iRanks[0] === "1" && (await page.textContent("th.rank .rank-measure")) === "T2I", `sorted by T2I, the first row has T2I rank 1 (${t2iRanks.slice(0, 3)})`);
  check((await page.textContent("#rank-rule")).startsWith("Rank by T2I score"), "the page says how it ranks");
  await page.goto(`${base}/?tasks=1`);
  await page.waitForSelector("html[data-hydrated]");
  await page.screenshot({ path: `${screenshots}/leaderboard.png`, fullPage: false });

  // 3. A sample page plays its media.
  for (const [task, selector] of [["text_to_audio", "audio"], ["text_to_video", "video"]]) {
    await open(`/benchmark?task=${task}`);
    await page.click("table.samples tbody th a");
    await page.waitForSelector(selector);
    const played = await page.$$eval(selector, async (elements) => {
      const results = [];
      for (const element of elements) {
        element.muted = true;
        try {
          await element.play();
          const start = performance.now();
          while (element.currentTime === 0 && performance.now() - start < 5000) {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          results.push(element.currentTime > 0);
        } catch (error) {
          results.push(`${error}`);
        }
      }
      return results;
    });
    check(played.length === 2 && played.every((result) => result === true), `the ${task} sample page plays both ${selector} responses (${JSON.stringify(played)})`);
    if (selector === "video") {
      // Issue 20, defect 7: the clips loop, fill their columns, start together, and enlarge.
      await page.waitForSelector("html[data-hydrated]", { timeout: 30000 });
      check(await page.$$eval("video", (videos) => videos.every((video) => video.loop)), "the videos loop");
      const widths = async () => page.$$eval(".responses video", (videos) => videos.map((video) => video.getBoundingClientRect().width));
      const sideBySide = await widths();
      check(sideBySide.every((width) => width >= 300), `the videos are shown large, side by side (${sideBySide} px wide)`);
      await page.$$eval("video", (videos) => videos.forEach((video) => { video.pause(); video.currentTime = 0.5 * video.duration; }));
      await page.click("#play-both");
      await page.waitForFunction(() => [...document.querySelectorAll(".responses video")].every((video) => !video.paused && video.currentTime > 0));
      const times = await page.$$eval(".responses video", (videos) => videos.map((video) => video.currentTime));
      check(Math.abs(times[0] - times[1]) < 0.3, `"Play both in step" starts both from the start together (${times})`);
      await page.check("#enlarge");
      const enlarged = await widths();
      check(enlarged.every((width, index) => width > sideBySide[index] * 1.5), `"Enlarge" widens the videos (${enlarged} px)`);
    }
    await page.screenshot({ path: `${screenshots}/sample-${task}.png`, fullPage: true });
  }

  // 4. The demo returns rewards.
  await open("/demo?example=1");
  await page.click('form.demo-form button[type="submit"]');
  await page.waitForSelector("#reward1, p.error", { timeout: 60000 });
  const demoError = await page.$("p.error");
  check(demoError === null, `the demo answers without an error${demoError ? `: ${await demoError.textContent()}` : ""}`);
  const rewards = [await page.textContent("#reward1"), await page.textContent("#reward2")].map(Number);
  check(rewards.every(Number.isFinite) && rewards[0] !== rewards[1], `the demo returns two rewards (${rewards})`);
  // The answer is explained (issue 20, defect 8): the default model is a small baseline, the
  // reward scale, and (with no evaluation of it on this server) that no tie threshold is known.
  check((await page.textContent("#demo-baseline")).includes("small baseline"), "the demo says the default model is a small baseline");
  check((await page.textContent("#demo-scale")).includes("only the margin"), "the demo explains the reward scale");
  check((await page.textContent("#demo-ties")).includes("No tie threshold is known"), "the demo says no tie threshold is known");
  await page.screenshot({ path: `${screenshots}/demo.png`, fullPage: true });

  // The methods page (issue 20, addition 11): how the numbers are computed, and the BibTeX.
  await open("/methods");
  check((await page.textContent("#bibtex")).includes("arXiv:2510.23451"), "the methods page gives the benchmark's BibTeX");
  const bibtex = await fetch(`${base}/methods/omni-reward.bib`);
  check(bibtex.ok && (await bibtex.text()).startsWith("@article{"), "the BibTeX downloads as a file");

  // 5. An API-judge submission goes through the queue to a finished row on the leaderboard.
  await open("/submit");
  await page.screenshot({ path: `${screenshots}/submit.png`, fullPage: true });
  await page.fill("#name", "E2E judge");
  await page.fill("#endpoint", judgeEndpoint);
  await page.fill("#model", judgeModel);
  await page.check('input[name="tasks"][value="text_to_text"]');
  await page.check('input[name="tasks"][value="text_to_image"]');
  await page.click('#api-judge-form button[type="submit"]');
  await page.waitForURL(/\/submissions\/\d+/);
  await page.waitForSelector("html[data-hydrated]");
  await page.waitForFunction(() => document.querySelector("#submission-status")?.textContent === "finished", null, { timeout: 120000 });
  check(true, "the submission's page follows it to finished (server-sent events)");
  await page.screenshot({ path: `${screenshots}/submission.png`, fullPage: true });
  await open("/queue");
  await page.screenshot({ path: `${screenshots}/queue.png`, fullPage: true });
  // The finished run (over two tasks of the sample) counts in the samples' difficulty.
  await open("/benchmark?task=text_to_text");
  check((await page.textContent("#difficulty-note")).includes("of the 1 finished evaluated runs"), "the finished run counts in the difficulty");
  check((await page.$$eval("table.samples td.difficulty", (cells) => cells.filter((cell) => cell.textContent.includes("of 1 runs")).length)) > 0, "each judged sample shows its runs right");
  await open("/?q=E2E");
  const rows = await modelNames();
  check(rows.includes("E2E judge"), "the finished submission has a row on the leaderboard");
  await page.click("text=E2E judge");
  await page.waitForSelector("figure.chart svg");
  check((await page.$$("figure.chart")).length >= 1, "the model page draws its charts");
  check((await page.$$("table.judgements tbody tr")).length > 0, "the model page lists its judgements");
  // Issue 20, addition 12: the run's judgements download as JSON Lines.
  const download = await page.getAttribute("#judgements-download", "href");
  const jsonLines = (await (await fetch(`${base}${download}`)).text()).trim().split("\n").map((line) => JSON.parse(line));
  check(jsonLines.length > 0 && jsonLines.every((line) => typeof line.correct === "boolean"), `the run's judgements download as JSON Lines (${jsonLines.length} lines)`);
  await page.screenshot({ path: `${screenshots}/model.png`, fullPage: false });
  const evaluatedModel = page.url();
  // Intervals as text, for screens without hover (issue 20, defect 5).
  await open("/");
  check((await page.$$("small.interval")).length === 0, "intervals are not written out by default");
  await page.check('input[name="ci"]');
  await page.waitForFunction(() => location.search.includes("ci=1"));
  check((await page.$$("small.interval")).length > 0, "the intervals toggle writes each interval under its score");
  // Issue 20, addition 10: a column of each model's overall on the tasks all shown models cover.
  await page.check('input[name="common"]');
  await page.waitForSelector("#common-header");
  check((await page.$$("td.common")).length > 0, "the common-tasks column appears with one cell per row");

  // A paper model's page: the paper's numbers with their source and rank, the same charts, no run.
  await open("/?benchmark=omni-rewardbench");
  await page.click("tr.paper th.model a");
  await page.waitForSelector("#paper-numbers");
  const paperText = await page.textContent("main");
  check(paperText.includes("Source: Table 2, row"), "the paper model page gives its source");
  check(!/Run \d+/.test(paperText), "the paper model page shows no made-up run");
  check((await page.$$("figure.chart")).length >= 1, "the paper model page draws its charts");
  await page.screenshot({ path: `${screenshots}/paper-model.png`, fullPage: false });

  // Issue 20, addition 9: tick two rows on the leaderboard and compare them (a plain form GET).
  const paperModel = page.url();
  await open("/?benchmark=omni-rewardbench");
  const ticked = await page.$$eval("table.scores tbody tr", (rows) => rows.slice(0, 3).map((row) => row.querySelector("th.model a").textContent));
  for (const index of [0, 1, 2]) {
    await page.locator("table.scores tbody tr").nth(index).locator("input.pick").check();
  }
  await page.click('form#compare-form button[type="submit"]');
  await page.waitForURL(/\/compare\?/);
  check((await page.$('script[type="module"]')) === null, "the compare view loads no bundle");
  const pickedNames = await page.$$eval("#picked tbody th a", (links) => links.map((link) => link.textContent));
  check(JSON.stringify(pickedNames) === JSON.stringify(ticked), `the compare view shows the ticked models (${pickedNames})`);
  check((await page.$$("#differences tbody tr")).length === 6, "three pairs in each setting");
  check((await page.textContent("#differences")).includes("no per-item outputs: paper-reported numbers only"), "paper rows are labelled as reported numbers only");
  check((await page.$$("figure.chart svg")).length >= 6, "bars, radars and the board's scatter plots are drawn");
  // The form on the page changes the pick without any script.
  check(!(await page.$eval("#compare-choose", (details) => details.open)), "with models picked, the choice is folded away");
  await page.click("#compare-choose > summary");
  await page.locator("#compare-picker input[name=models]:checked").first().uncheck();
  await page.click('#compare-picker button[type="submit"]');
  await page.waitForFunction(() => document.querySelectorAll("#picked tbody tr").length === 2);
  check((await page.$$("#differences tbody tr")).length === 2, "unticking a model in the form compares the other two");
  const compareView = page.url();
  await page.screenshot({ path: `${screenshots}/compare.png`, fullPage: false });

  // Issue 20, addition 12: thumbnails, the ties filter, difficulty order, previous and next.
  await open("/benchmark?task=text_to_image");
  const thumbnails = await page.$$eval("table.samples img.thumb", async (images) => {
    await Promise.all(images.map((image) => image.decode().catch(() => null)));
    return images.map((image) => image.naturalWidth);
  });
  check(thumbnails.length > 0 && thumbnails.every((width) => width > 0), `the sample list shows image thumbnails (${thumbnails.length})`);
  await page.selectOption('select[name="ties"]', "tie");
  await page.click('#sample-filters button[type="submit"]');
  await page.waitForURL(/ties=tie/);
  const labels = await page.$$eval("table.samples tbody tr td:nth-child(5)", (cells) => cells.map((cell) => cell.textContent));
  check(labels.length > 0 && labels.every((label) => label === "Tie"), `the ties filter lists only pairs labelled tie (${labels.length})`);
  await page.selectOption('select[name="ties"]', "not_tie");
  await page.selectOption('select[name="order"]', "hardest");
  await page.click('#sample-filters button[type="submit"]');
  await page.waitForURL(/order=hardest/);
  const listed = await page.$$eval("table.samples tbody th a", (links) => links.map((link) => link.textContent));
  await page.click("table.samples tbody tr th a");
  await page.waitForSelector("#sample-next");
  await page.click("#sample-next");
  await page.waitForURL(new RegExp(`/benchmark/text_to_image/${listed[1]}\\?ties=not_tie&order=hardest`));
  check((await page.textContent("nav.sample-steps")).includes("2 of "), "next walks the filtered, sorted list");
  await page.click("#sample-prev");
  await page.waitForURL(new RegExp(`/benchmark/text_to_image/${listed[0]}\\?`));
  check(true, "previous goes back in the same list");
  check((await page.textContent("#sample-difficulty")).includes("finished evaluated runs"), "the sample page gives its share of runs right");

  // Phone width (390 px): the leaderboard, a paper model page, the compare view and a sample page.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(paperModel);
  await page.screenshot({ path: `${screenshots}/paper-model-phone.png`, fullPage: false });
  const noSidewaysScroll = async (what) => {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 390, `${what} does not scroll sideways at 390 px (${width} px wide)`);
  };
  await noSidewaysScroll("the paper model page");
  await page.goto(compareView);
  await noSidewaysScroll("the compare view");
  await page.screenshot({ path: `${screenshots}/compare-phone.png`, fullPage: false });
  await open("/?benchmark=omni-rewardbench");
  // The first screen shows Overall; model names take at most three lines (issue 20, defect 6).
  const overallBox = await page.locator('th[data-column="overall"]').boundingBox();
  check(overallBox !== null && overallBox.x >= 0 && overallBox.x + overallBox.width <= 390, `the Overall column is on the first screen (${JSON.stringify(overallBox)})`);
  const nameHeights = await page.$$eval("table.scores tbody th.model", (cells) => cells.map((cell) => [cell.getBoundingClientRect().height, cell.textContent]));
  const lineHeight = await page.$eval("table.scores tbody th.model", (cell) => parseFloat(getComputedStyle(cell).lineHeight));
  const [tallest, tallestName] = nameHeights.reduce((a, b) => (b[0] > a[0] ? b : a));
  check(tallest <= 3 * lineHeight + 14, `model names take at most three lines (tallest ${tallest} px: ${tallestName}; line ${lineHeight} px)`);
  await noSidewaysScroll("the leaderboard");
  await page.screenshot({ path: `${screenshots}/leaderboard-phone.png`, fullPage: false });
  // A shared link sorted by a task at the far right opens with that column in view.
  await open("/?benchmark=omni-rewardbench&tasks=1&sort=text_image_to_image");
  await page.waitForFunction(() => {
    const box = document.querySelector('th[data-column="text_image_to_image"]').getBoundingClientRect();
    return box.left >= 0 && box.right <= window.innerWidth;
  }, null, { timeout: 5000 });
  check(true, "the sorted column is scrolled into view at 390 px");
  await open("/benchmark?task=text_to_text");
  await page.click("table.samples tbody tr th a");
  await page.waitForSelector("dd.served");
  check(!(await page.textContent("main")).includes("preferred by humans"), "the synthetic sample's labels are not called human");
  await noSidewaysScroll("a sample page with the models' answers");
  await page.screenshot({ path: `${screenshots}/sample-phone.png`, fullPage: false });
  await page.goto(evaluatedModel);
  await noSidewaysScroll("an evaluated model's page");
  await page.screenshot({ path: `${screenshots}/model-phone.png`, fullPage: false });

  check(problems.length === 0, `no page or console errors${problems.length ? `: ${problems.join("; ")}` : ""}`);
} finally {
  await browser.close();
}
