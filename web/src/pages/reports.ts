// The reports: newest first, filtered by stack and status, failed ones with
// the reason their check failed.
import { get, type List, type Severity } from "../api";
import { h, clear, time } from "../dom";
import type { Route } from "../main";
import { badge, errorBox, field, loading, pager, select, showError, table } from "../ui";

interface Report {
    report_id: string; stack: { id: string; name: string }; received_at: string;
    status: "ok" | "failed"; reason: string | null; severity: Severity; score: number;
}

const PAGE = 50;

export async function reportsPage(main: HTMLElement, route: Route): Promise<void> {
    document.title = "Reports · drift";
    const q = route.query;
    const filters = { stack: q.get("stack") ?? "", status: q.get("status") ?? "" };
    const offset = Math.max(0, Number(q.get("offset") ?? 0) || 0);
    const box = errorBox();
    const stackSel = select("stack", [["", "all stacks"]], filters.stack);
    const form = h("form", { class: "filters", role: "search", "aria-label": "Filter reports" },
        field("Stack", stackSel),
        field("Status", select("status", [["", "any"], ["ok", "ok"], ["failed", "failed"]], filters.status)),
        h("button", { type: "submit" }, "Apply"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        const data = new FormData(form);
        const p = new URLSearchParams();
        for (const k of ["stack", "status"]) {
            const v = String(data.get(k) ?? "");
            if (v) p.set(k, v);
        }
        location.hash = "#/reports" + (p.toString() ? "?" + p : "");
    });
    const body = h("div", null, loading());
    clear(main, h("h1", null, "Reports"), form, box, body);

    get<List<{ id: string; name: string }>>("/api/v1/stacks", { limit: 200 }).then((l) => {
        for (const s of l.items) stackSel.append(h("option", { value: s.id, selected: s.id === filters.stack || s.name === filters.stack }, s.name));
    }).catch(() => { /* the list itself reports errors */ });

    let list: List<Report>;
    try {
        list = await get<List<Report>>("/api/v1/reports", { ...filters, limit: PAGE, offset });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    clear(body,
        table("Reports, newest first",
            ["Received", "Stack", "Status", "Severity", "Score", "Report"],
            list.items.map((r) => [
                time(r.received_at),
                h("a", { href: `#/drift?stack=${encodeURIComponent(r.stack.id)}` }, r.stack.name),
                r.status === "failed"
                    ? h("span", { class: "report-failed", "data-status": "failed" }, "failed: ",
                        h("code", null, r.reason ?? "no reason recorded"))
                    : h("span", { "data-status": "ok" }, "ok"),
                r.status === "ok" ? badge(r.severity) : "—",
                r.status === "ok" ? String(r.score) : "—",
                h("code", null, r.report_id),
            ]),
            "No report matches."),
        pager("#/reports", q, offset, list.items.length, list.more, PAGE));
}
