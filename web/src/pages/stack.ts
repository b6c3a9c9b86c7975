// One stack's page: its open drift by severity, when it last reported, and
// its trend charts over a window of days (the history of this stack), with
// links to its drift, reports and history; its commands and "Check now"
// (./commands).
import { get, SEVERITIES, type List } from "../api";
import { h, clear, time } from "../dom";
import type { Route } from "../main";
import { trends, type History } from "../trends";
import { badge, errorBox, field, loading, select, showError } from "../ui";
import { commandsSection } from "./commands";
import type { Stack } from "./stacks";

// The stack by id, through the stacks list (pages of 200).
async function findStack(id: string): Promise<Stack | undefined> {
    for (let offset = 0; ; offset += 200) {
        const page = await get<List<Stack>>("/api/v1/stacks", { limit: 200, offset });
        const found = page.items.find((s) => s.id === id);
        if (found || !page.more) return found;
    }
}

export async function stackPage(main: HTMLElement, route: Route): Promise<void> {
    const id = route.path[1];
    const days = route.query.get("days") ?? "30";
    document.title = "Stack · drift";
    const box = errorBox();
    const body = h("div", null, loading());
    clear(main, h("p", null, h("a", { href: "#/stacks" }, "← Stacks")), box, body);
    let stack: Stack | undefined, history: History;
    try {
        [stack, history] = await Promise.all([
            findStack(id),
            get<History>("/api/v1/history", { stack: id, days }),
        ]);
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    if (!stack) {
        clear(body, h("h1", null, "No such stack"), h("p", null, "It may have been removed, or belong to another tenant."));
        return;
    }
    document.title = `${stack.name} · drift`;
    const ref = encodeURIComponent(stack.id);
    const form = h("form", { class: "filters", "aria-label": "Trend window" },
        field("Days", select("days", [["7", "7"], ["30", "30"], ["90", "90"], ["365", "365"]], days)),
        h("button", { type: "submit" }, "Show"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        location.hash = `#/stacks/${ref}?days=${encodeURIComponent(String(new FormData(form).get("days") ?? "30"))}`;
    });
    clear(body,
        h("h1", null, stack.name, " ", h("span", { class: "engine" }, stack.engine)),
        h("ul", { class: "badges", "aria-label": `open drift in ${stack.name} by severity` },
            SEVERITIES.filter((sev) => sev !== "none").map((sev) => h("li", null,
                h("a", { href: `#/drift?stack=${ref}&severity=${sev}` }, badge(sev, stack.open?.[sev] ?? 0))))),
        h("p", { class: "meta" },
            `${stack.open_total} open · last report `, time(stack.last_report_at),
            " · last successful ", time(stack.last_success_at), " · ",
            h("a", { href: `#/drift?stack=${ref}` }, "open drift"), " · ",
            h("a", { href: `#/reports?stack=${ref}` }, "reports"), " · ",
            h("a", { href: `#/history?stack=${ref}&days=${encodeURIComponent(days)}` }, "history")),
        commandsSection(stack.id, box),
        h("h2", null, `Trends, ${history.from} to ${history.to}`),
        form,
        trends(history));
}
