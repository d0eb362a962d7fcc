// Time to first render and to interactive of the web app's pages on localhost, in Debian's
// headless Chromium: first-contentful-paint (the server-rendered page is visible) and the moment
// the bundle has hydrated the page (the loader stamps `data-hydrated` with performance.now()).
// Pages that are not hydrated load no bundle: they are interactive (links and forms) once the
// document is parsed, so for them "interactive" is DOMContentLoaded.
// Each page is loaded RUNS times with a cold cache; medians are printed as a Markdown table.
//
// Usage: BASE_URL=http://127.0.0.1:8080 node timing.mjs [RUNS]
import { chromium } from "playwright-core";

const base = process.env.BASE_URL ?? "http://127.0.0.1:8080";
const runs = Number(process.argv[2] ?? 9);
const pages = ["/", "/?tasks=1&setting=without_ties", "/benchmark", "/demo", "/submit", "/queue", "/models/1"];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
console.log("| page | HTML bytes | first contentful paint (ms) | interactive (ms) |");
console.log("|---|---:|---:|---:|");
for (const path of pages) {
  const paints = [];
  const interactive = [];
  let bytes = 0;
  for (let run = 0; run < runs; run++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${base}${path}`);
    bytes = (await response.body()).length;
    if (await page.$('script[type="module"]')) {
      await page.waitForSelector("html[data-hydrated]", { timeout: 30000 });
      interactive.push(Number(await page.getAttribute("html", "data-hydrated")));
    } else {
      await page.waitForLoadState("domcontentloaded");
      interactive.push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd));
    }
    paints.push(await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN));
    await context.close();
  }
  console.log(`| \`${path}\` | ${bytes} | ${median(paints).toFixed(0)} | ${median(interactive).toFixed(0)} |`);
}
await browser.close();
