// History: how drift came and went over a window of days, for one stack or
// all: the trend charts (open by severity, opened vs resolved, time to fix
// per week), the time to fix over the window, the numbers per day, and the
// days as a CSV download.
import { get, type List } from "../api";
import { h, clear } from "../dom";
import type { Route } from "../main";
import { downloadButton } from "../download";
import { duration, trends, type History } from "../trends";
import { errorBox, field, loading, select, showError } from "../ui";

export async function historyPage(main: HTMLElement, route: Route): Promise<void> {
    document.title = "History · drift";
    const q = route.query;
    const stack = q.get("stack") ?? "";
    const days = q.get("days") ?? "30";
    const box = errorBox();
    const stackSel = select("stack", [["", "all stacks"]], stack);
    const form = h("form", { class: "filters", "aria-label": "History window" },
        field("Stack", stackSel),
        field("Days", select("days", [["7", "7"], ["30", "30"], ["90", "90"], ["365", "365"]], days)),
        h("button", { type: "submit" }, "Show"),
        downloadButton("Download CSV", "/api/v1/history", { stack: stack || undefined, days }, box));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        const data = new FormData(form);
        const p = new URLSearchParams();
        for (const k of ["stack", "days"]) {
            const v = String(data.get(k) ?? "");
            if (v) p.set(k, v);
        }
        location.hash = "#/history?" + p.toString();
    });
    const body = h("div", null, loading());
    clear(main, h("h1", null, "History"), form, box, body);

    get<List<{ id: string; name: string }>>("/api/v1/stacks", { limit: 200 }).then((l) => {
        for (const s of l.items) stackSel.append(h("option", { value: s.id, selected: s.id === stack || s.name === stack }, s.name));
    }).catch(() => { /* the history itself reports errors */ });

    let history: History;
    try {
        history = await get<History>("/api/v1/history", { stack: stack || undefined, days });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    const fix = history.time_to_fix;
    const peak = Math.max(1, ...history.days.map((d) => Math.max(d.opened, d.resolved)));
    const bar = (n: number, kind: string) => {
        const el = h("span", { class: `bar bar-${kind}`, "aria-hidden": "true" });
        // Through CSSOM, not a style attribute: the API's Content-Security-Policy
        // (style-src 'self') refuses inline style attributes.
        el.style.width = `calc((100% - 4em) * ${n / peak})`;
        return el;
    };
    clear(body,
        trends(history),
        h("section", { "aria-labelledby": "fix-title" },
            h("h2", { id: "fix-title" }, `Time to fix, ${history.from} to ${history.to}`),
            fix.count === 0 ? h("p", { class: "empty" }, "No drift was resolved in this window.") :
                h("dl", { class: "facts", "data-fixed": fix.count },
                    h("dt", null, "Resolved"), h("dd", null, String(fix.count)),
                    h("dt", null, "Median"), h("dd", null, duration(fix.p50_s)),
                    h("dt", null, "90th percentile"), h("dd", null, duration(fix.p90_s)),
                    h("dt", null, "Mean"), h("dd", null, duration(fix.mean_s)))),
        h("details", { class: "per-day" },
            h("summary", null, h("h2", { id: "days-title" }, "Opened and resolved per day, newest first")),
            h("table", { class: "history" },
                h("caption", { class: "visually-hidden" }, "Drift opened and resolved per day"),
                h("thead", null, h("tr", null,
                    h("th", { scope: "col" }, "Day"), h("th", { scope: "col" }, "Opened"),
                    h("th", { scope: "col" }, "Resolved"))),
                h("tbody", null, [...history.days].reverse().map((d) => h("tr", { "data-day": d.day },
                    h("th", { scope: "row" }, d.day),
                    h("td", null, h("span", { class: "count" }, String(d.opened)), bar(d.opened, "opened")),
                    h("td", null, h("span", { class: "count" }, String(d.resolved)), bar(d.resolved, "resolved"))))))));
}
