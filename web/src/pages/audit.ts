// The audit log (issue 19): for admins, who changed what in the tenant and
// from where, newest first, filtered by action, actor and date, a page at
// a time by cursor (older entries keep their place while new ones arrive).
import { get } from "../api";
import { h, clear, time } from "../dom";
import type { Route } from "../main";
import { downloadButton } from "../download";
import { errorBox, field, loading, select, showError, table } from "../ui";

interface Entry {
    id: number; at: string; actor: string; actor_label: string; action: string;
    target: string; detail: Record<string, unknown>; source: string;
}
interface Page { items: Entry[]; limit: number; next_before: number | null }

const PAGE = 100;

// The filter's choices: a prefix selects every action under it.
const ACTIONS: Array<[string, string]> = [
    ["", "any action"], ["login", "logins"], ["login.failure", "failed logins"], ["logout", "logouts"],
    ["password", "passwords"], ["user", "users"], ["token", "API tokens"], ["suppression", "suppressions"],
    ["drift", "drift mutes"], ["channel", "channels"], ["agent_key", "agent keys"],
    ["agent_cert", "agent certificates"],
];

// The detail as short key=value text: it never holds a secret.
function detailText(detail: Record<string, unknown>): string {
    return Object.entries(detail)
        .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join(" ");
}

export async function auditPage(main: HTMLElement, route: Route): Promise<void> {
    document.title = "Audit log · drift";
    const q = route.query;
    const filters = { action: q.get("action") ?? "", actor: q.get("actor") ?? "", since: q.get("since") ?? "" };
    const before = q.get("before") ?? "";
    const box = errorBox();
    const actor = h("input", { type: "text", name: "actor", value: filters.actor, maxlength: 300 });
    const since = h("input", { type: "date", name: "since", value: filters.since.slice(0, 10) });
    const form = h("form", { class: "filters", role: "search", "aria-label": "Filter the audit log" },
        field("Action", select("action", ACTIONS, filters.action)),
        field("Actor", actor, "an email, a token's name or cli:USER"),
        field("Since", since),
        h("button", { type: "submit" }, "Apply"));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        const data = new FormData(form);
        const p = new URLSearchParams();
        const action = String(data.get("action") ?? "");
        const who = String(data.get("actor") ?? "").trim();
        const day = String(data.get("since") ?? "");
        if (action) p.set("action", action);
        if (who) p.set("actor", who);
        if (day) p.set("since", `${day}T00:00:00Z`);
        location.hash = "#/audit" + (p.toString() ? "?" + p : "");
    });
    const query: Record<string, string | undefined> = {
        action: filters.action || undefined, actor: filters.actor || undefined,
        since: filters.since || undefined,
    };
    const body = h("div", null, loading());
    clear(main, h("h1", null, "Audit log"),
        h("p", null, "Every sign-in, failed sign-in and change to people, tokens, suppressions, channels and agent keys, with who made it and from where. Entries cannot be changed or removed."),
        form, box, downloadButton("Download CSV", "/api/v1/audit", { ...query, before: before || undefined }, box), body);
    let page: Page;
    try {
        page = await get<Page>("/api/v1/audit", { ...query, before: before || undefined, limit: PAGE });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    const link = (cursor: number | null) => {
        const p = new URLSearchParams(q);
        if (cursor === null) p.delete("before"); else p.set("before", String(cursor));
        return "#/audit" + (p.toString() ? "?" + p : "");
    };
    clear(body,
        table("Audit log, newest first", ["When", "Who", "Action", "Target", "Detail", "From"],
            page.items.map((e) => [
                time(e.at),
                h("span", { title: e.actor }, e.actor_label || e.actor),
                h("code", { "data-action": e.action }, e.action),
                e.target,
                h("span", { class: "detail" }, detailText(e.detail)),
                e.source,
            ]),
            "No entry matches."),
        h("nav", { class: "pager", "aria-label": "Pages" },
            before && h("a", { href: link(null) }, "← Newest"),
            page.next_before !== null && h("a", { href: link(page.next_before), rel: "next" }, "Older →")));
}
