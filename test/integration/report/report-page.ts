/**
 * Opens a report.html in Debian's headless Chromium and reads back what a reader would see:
 * console errors, failed requests, each chart's drawn marks, section headings and images.
 */
import { chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export interface PageCheck {
  readonly consoleErrors: string[];
  readonly failedRequests: string[];
  /** Requests for anything but the file itself (the page must fetch nothing). */
  readonly otherRequests: string[];
  readonly headings: string[];
  /** Per chart container: whether it holds an SVG, and its data marks (not axes, legends or titles). */
  readonly charts: Array<{ id: string; svg: boolean; marks: number; width: number }>;
  readonly images: Array<{ alt: string; loaded: boolean }>;
  readonly statements: Array<{ id: string; severity: string }>;
  readonly alerts: string[];
}

// Runs in the page; a string, as the test is not compiled against the DOM.
const READ_PAGE = `(() => ({
  headings: [...document.querySelectorAll("h2")].map((h) => h.textContent),
  charts: [...document.querySelectorAll("figure.chart")].map((f) => {
    const svg = f.querySelector("svg");
    return {
      id: f.getAttribute("data-chart"),
      svg: svg !== null,
      marks: svg ? svg.querySelectorAll(".role-mark > path, .role-mark > rect, .role-mark > line, .role-mark > text").length : 0,
      width: svg ? svg.getBoundingClientRect().width : 0,
    };
  }),
  images: [...document.querySelectorAll("img")].map((i) => ({ alt: i.alt, loaded: i.complete && i.naturalWidth > 0 })),
  statements: [...document.querySelectorAll("ul.statements li")].map((li) => ({ id: li.dataset.id, severity: li.className })),
  alerts: [...document.querySelectorAll(".alert")].map((a) => a.textContent),
}))()`;

export async function checkReportPage(htmlPath: string, screenshots: readonly string[]): Promise<PageCheck> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors: string[] = [];
    const failedRequests: string[] = [];
    const otherRequests: string[] = [];
    const url = `file://${htmlPath}`;
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(e.message));
    page.on("requestfailed", (r) => failedRequests.push(r.url()));
    page.on("request", (r) => {
      if (r.url() !== url && !r.url().startsWith("data:")) otherRequests.push(r.url());
    });
    await page.goto(url, { waitUntil: "load" });
    const read = (await page.evaluate(READ_PAGE)) as Omit<
      PageCheck,
      "consoleErrors" | "failedRequests" | "otherRequests"
    >;
    for (const path of screenshots) await page.screenshot({ path, fullPage: true });
    return { consoleErrors, failedRequests, otherRequests, ...read };
  } finally {
    await browser.close();
  }
}
