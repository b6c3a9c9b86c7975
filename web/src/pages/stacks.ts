// The stacks overview: open drift per severity, stale stacks and failing
// checks called out.
import { get, SEVERITIES, type List, type Severity } from "../api";
import { h, clear, time, ago } from "../dom";
import { badge, errorBox, loading, showError } from "../ui";

export interface Stack {
    id: string; name: string; engine: string;
    last_report_at: string | null; last_success_at: string | null; stale: boolean;
    failing: boolean; last_failure: string | null;
    open: Record<Severity, number>; open_total: number;
}

export async function stacksPage(main: HTMLElement): Promise<void> {
    document.title = "Stacks · drift";
    const box = errorBox();
    const body = h("div", null, loading());
    clear(main, h("h1", null, "Stacks"), box, body);
    let list: List<Stack>;
    try {
        list = await get<List<Stack>>("/api/v1/stacks", { limit: 200 });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    const stacks = list.items;
    const stale = stacks.filter((s) => s.stale);
    const total: Record<string, number> = {};
    for (const s of stacks) for (const sev of SEVERITIES) total[sev] = (total[sev] ?? 0) + (s.open?.[sev] ?? 0);

    clear(body,
        stacks.length === 0 && h("p", { class: "empty" },
            "No stack has reported yet. Issue an agent key on the ", h("a", { href: "#/agents" }, "Agents"),
            " page and point drift-agent at a Terraform stack."),
        stacks.length > 0 && h("section", { class: "summary", "aria-label": "Open drift in all stacks" },
            h("h2", { class: "visually-hidden" }, "Open drift in all stacks"),
            h("ul", { class: "badges" }, SEVERITIES.filter((s) => s !== "none").map((sev) =>
                h("li", null, h("a", { href: `#/drift?severity=${sev}` }, badge(sev, total[sev] ?? 0)))))),
        stale.length > 0 && h("div", { class: "warning stale-callout", role: "note" },
            h("strong", null, `${stale.length} stale ${stale.length === 1 ? "stack" : "stacks"}: `),
            stale.map((s, i) => [i ? ", " : "", h("a", { href: `#/drift?stack=${encodeURIComponent(s.id)}` }, s.name),
                ` (last successful check ${ago(s.last_success_at)})`]),
            ". Drift there may be missing: check its agent."),
        stacks.length > 0 && h("ul", { class: "stacks" }, stacks.map((s) =>
            h("li", { class: `stack${s.stale ? " is-stale" : ""}`, "data-stack": s.name },
                h("h2", null, h("a", { href: `#/drift?stack=${encodeURIComponent(s.id)}` }, s.name),
                    " ", h("span", { class: "engine" }, s.engine),
                    s.stale && h("span", { class: "tag stale" }, "stale"),
                    s.failing && h("span", { class: "tag failing" }, "check failing")),
                s.failing && h("p", { class: "failure", role: "note" },
                    "The last check failed: ", h("code", null, s.last_failure ?? "no reason recorded"), " ",
                    h("a", { href: `#/reports?stack=${encodeURIComponent(s.id)}&status=failed` }, "failed reports")),
                h("ul", { class: "badges", "aria-label": `open drift in ${s.name} by severity` },
                    SEVERITIES.filter((sev) => sev !== "none").map((sev) => h("li", null,
                        badge(sev, s.open?.[sev] ?? 0)))),
                h("p", { class: "meta" },
                    `${s.open_total} open · last report `, time(s.last_report_at),
                    " · last successful ", time(s.last_success_at), " · ",
                    h("a", { href: `#/stacks/${encodeURIComponent(s.id)}`, class: "trends-link", title: `${s.name}: trends and time to fix` }, "trends"))))));
}
