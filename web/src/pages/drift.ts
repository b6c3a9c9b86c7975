// The drift list (filters, paging) and one drift item's detail (before ->
// after per attribute path, reasons, reports, suppress / unsuppress, and
// for an admin a remediation plan of the resource).
import { call, canAdmin, get, SEVERITIES, type List, type Severity } from "../api";
import { h, clear, time } from "../dom";
import { downloadButton } from "../download";
import type { Route } from "../main";
import { badge, busy, errorBox, field, loading, notice, pager, select, showError, table } from "../ui";

interface DriftItem {
    id: string; stack: { id: string; name: string }; fingerprint: string; address: string;
    type: string; kind: string; class: string; severity: Severity; score: number; state: string;
    first_seen: string; last_seen: string; resolved_at: string | null;
}
interface Change { path: string; op: string; before: unknown; after: unknown; sensitive?: boolean }
interface Reason { rule: string; severity: Severity; reason: string; path?: string; suppressed?: boolean }
interface ReportRef { role: string; report_id: string; received_at: string; status: string }
interface Sighting { report_id: string; seen_at: string; severity: Severity; status: string }
interface DriftDetail extends DriftItem {
    changes: Change[]; reasons: Reason[];
    suppression: { reason: string; by: string; expires_at: string | null } | null;
    seen_in_reports: number;
    reports: ReportRef[];
}

const PAGE = 50;
const detailHref = (id: string) => `#/drift/${encodeURIComponent(id)}`;

export async function driftListPage(main: HTMLElement, route: Route): Promise<void> {
    document.title = "Drift · drift";
    const q = route.query;
    const filters = {
        stack: q.get("stack") ?? "",
        severity: q.get("severity") ?? "",
        class: q.get("class") ?? "",
        state: q.get("state") ?? "open",
    };
    const offset = Math.max(0, Number(q.get("offset") ?? 0) || 0);
    const box = errorBox();
    const stackSel = select("stack", [["", "all stacks"]], filters.stack);
    const form = h("form", { class: "filters", role: "search", "aria-label": "Filter drift" },
        field("Stack", stackSel),
        field("Minimum severity", select("severity",
            [["", "any"], ...[...SEVERITIES].reverse().map((s): [string, string] => [s, s])], filters.severity)),
        field("Class", select("class", [["", "any"], ["real", "real"], ["mirror", "mirror"], ["noise", "noise"]], filters.class)),
        field("State", select("state", [["open", "open"], ["resolved", "resolved"], ["suppressed", "suppressed"], ["all", "all"]], filters.state)),
        h("button", { type: "submit" }, "Apply"),
        // Every item the filters match (not this page) as CSV.
        downloadButton("Download CSV", "/api/v1/drift", filters, box));
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        const data = new FormData(form);
        const p = new URLSearchParams();
        for (const k of ["stack", "severity", "class", "state"]) {
            const v = String(data.get(k) ?? "");
            if (v) p.set(k, v);
        }
        location.hash = "#/drift" + (p.toString() ? "?" + p : "");
    });
    const body = h("div", null, loading());
    clear(main, h("h1", null, "Drift"), form, box, body);

    // The stacks, for the filter (a name or id given in the URL is kept).
    get<List<{ id: string; name: string }>>("/api/v1/stacks", { limit: 200 }).then((l) => {
        for (const s of l.items) stackSel.append(h("option", { value: s.id, selected: s.id === filters.stack || s.name === filters.stack }, s.name));
        if (filters.stack && !l.items.some((s) => s.id === filters.stack || s.name === filters.stack))
            stackSel.append(h("option", { value: filters.stack, selected: true }, filters.stack));
    }).catch(() => { /* the list itself reports errors */ });

    let list: List<DriftItem>;
    try {
        list = await get<List<DriftItem>>("/api/v1/drift", { ...filters, limit: PAGE, offset });
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    clear(body,
        table("Drift items, worst first",
            ["Severity", "Resource", "Kind", "Class", "State", "Stack", "First seen", "Last seen"],
            list.items.map((d) => [
                badge(d.severity),
                h("a", { href: detailHref(d.id), class: "address", "data-id": d.id }, d.address),
                d.kind, d.class, h("span", { class: `state state-${d.state}` }, d.state),
                d.stack.name, time(d.first_seen), time(d.last_seen),
            ]),
            `No ${filters.state === "all" ? "" : filters.state + " "}drift matches.`),
        pager("#/drift", q, offset, list.items.length, list.more, PAGE));
}

// Ask the stack's agent for a remediation plan of this resource alone
// (revert it to the code, or accept its drift into state), reviewed and
// approved on the plan's page (remediation.ts).
function remediateCard(d: DriftDetail): HTMLElement {
    const box = errorBox();
    const revert = h("button", { type: "button" }, "Revert to the code");
    const accept = h("button", { type: "button" }, "Accept into state");
    const card = h("section", { class: "card", "aria-labelledby": "remediate-title" },
        h("h2", { id: "remediate-title" }, "Remediate"),
        h("p", null, "The agent beside the stack makes a plan of this resource; an admin reviews and approves it before anything changes."),
        box, h("div", { class: "actions" }, revert, accept));
    for (const [control, mode] of [[revert, "revert"], [accept, "accept"]] as const) {
        control.addEventListener("click", () => void busy(card, box, async () => {
            const plan = await call<{ id: string }>("POST",
                `/api/v1/stacks/${encodeURIComponent(d.stack.id)}/remediations`, { targets: [d.address], mode });
            location.hash = `#/commands/${encodeURIComponent(plan.id)}`;
        }));
    }
    return card;
}

// A value as the API gives it: canonical JSON text (proto/CANONICAL.md),
// "" for the missing side. Objects and arrays are shown indented; a masked
// value ("(sensitive:HEX)", or any value of a change marked sensitive) is
// shown as masked, never as a value.
export function value(v: unknown, sensitive: boolean | undefined): Node {
    if (v === undefined || v === null || v === "") return h("span", { class: "absent" }, "(none)");
    let parsed: unknown = v;
    if (typeof v === "string") {
        try { parsed = JSON.parse(v); } catch { parsed = v; }
    }
    const masked = typeof parsed === "string" && /^\(sensitive[:)]/.test(parsed);
    if (sensitive || masked) {
        return h("span", { class: "masked", title: "sensitive: masked before it was stored" },
            h("span", { class: "tag masked-tag" }, "masked"), " ",
            typeof parsed === "string" ? parsed : JSON.stringify(parsed));
    }
    const text = parsed !== null && typeof parsed === "object"
        ? JSON.stringify(parsed, null, 2) : (typeof v === "string" ? v : JSON.stringify(v));
    return h("code", null, text);
}

export async function driftDetailPage(main: HTMLElement, route: Route): Promise<void> {
    const id = route.path[1];
    document.title = "Drift item · drift";
    const box = errorBox();
    const body = h("div", null, loading());
    clear(main, h("p", null, h("a", { href: "#/drift" }, "← Drift")), box, body);
    let d: DriftDetail;
    try {
        d = await get<DriftDetail>(`/api/v1/drift/${encodeURIComponent(id)}`);
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    document.title = `${d.address} · drift`;

    const suppressBox = errorBox();
    let actions: HTMLElement | null = null;
    if (canAdmin()) {
        if (d.state === "suppressed") {
            const form = h("form", { class: "card", "aria-label": "Unsuppress" },
                h("h2", null, "Suppressed"), suppressBox,
                h("button", { type: "submit" }, "Unsuppress"));
            form.addEventListener("submit", (e) => {
                e.preventDefault();
                void busy(form, suppressBox, async () => {
                    await call("POST", `/api/v1/drift/${encodeURIComponent(d.id)}/unsuppress`);
                    await driftDetailPage(main, route);
                });
            });
            actions = form;
        } else if (d.state === "open") {
            const reason = h("textarea", { name: "reason", required: true, rows: 2, maxlength: 1000 });
            const expires = h("input", { type: "datetime-local", name: "expires_at" });
            const form = h("form", { class: "card", "aria-labelledby": "suppress-title" },
                h("h2", { id: "suppress-title" }, "Suppress"),
                h("p", null, "A suppressed item leaves the open list and is never notified."),
                suppressBox,
                field("Reason", reason, "Why this drift is accepted (kept with the item)"),
                field("Expires (optional, UTC)", expires),
                h("button", { type: "submit" }, "Suppress"));
            form.addEventListener("submit", (e) => {
                e.preventDefault();
                void busy(form, suppressBox, async () => {
                    const body: { reason: string; expires_at?: string } = { reason: reason.value.trim() };
                    if (expires.value) body.expires_at = new Date(expires.value + "Z").toISOString().replace(/\.\d{3}Z$/, "Z");
                    await call("POST", `/api/v1/drift/${encodeURIComponent(d.id)}/suppress`, body);
                    await driftDetailPage(main, route);
                });
            });
            actions = form;
        }
    }
    const remediate = canAdmin() && d.state !== "resolved" ? remediateCard(d) : null;

    clear(body,
        h("h1", null, badge(d.severity), " ", h("span", { class: "address" }, d.address)),
        h("dl", { class: "facts" },
            h("dt", null, "Stack"), h("dd", null, h("a", { href: `#/drift?stack=${encodeURIComponent(d.stack.id)}` }, d.stack.name)),
            h("dt", null, "State"), h("dd", { class: `state state-${d.state}`, "data-state": d.state }, d.state),
            h("dt", null, "Kind"), h("dd", null, d.kind),
            h("dt", null, "Class"), h("dd", null, d.class),
            h("dt", null, "Type"), h("dd", null, d.type),
            h("dt", null, "Score"), h("dd", null, String(d.score)),
            h("dt", null, "First seen"), h("dd", null, time(d.first_seen)),
            h("dt", null, "Last seen"), h("dd", null, time(d.last_seen)),
            d.resolved_at && [h("dt", null, "Resolved"), h("dd", null, time(d.resolved_at))],
            h("dt", null, "Fingerprint"), h("dd", null, h("code", null, d.fingerprint))),
        d.suppression && h("div", { class: "warning", role: "note" },
            h("strong", null, "Suppressed"), ` by ${d.suppression.by}: ${d.suppression.reason}`,
            d.suppression.expires_at ? [" (until ", time(d.suppression.expires_at), ")"] : null),
        h("section", { "aria-labelledby": "changes-title" },
            h("h2", { id: "changes-title" }, "Changes"),
            (d.changes ?? []).length === 0 ? h("p", { class: "empty" }, "No attribute changes recorded.") :
                h("table", { class: "changes" },
                    h("caption", { class: "visually-hidden" }, "Before and after, per attribute path"),
                    h("thead", null, h("tr", null,
                        h("th", { scope: "col" }, "Path"), h("th", { scope: "col" }, "Change"),
                        h("th", { scope: "col" }, "Before"), h("th", { scope: "col", class: "arrow", "aria-hidden": "true" }, ""),
                        h("th", { scope: "col" }, "After"))),
                    h("tbody", null, d.changes.map((c) => h("tr", { "data-path": c.path },
                        h("th", { scope: "row" }, h("code", null, c.path)),
                        h("td", null, c.op),
                        h("td", { class: "before" }, value(c.before, c.sensitive)),
                        h("td", { class: "arrow", "aria-hidden": "true" }, "→"),
                        h("td", { class: "after" }, value(c.after, c.sensitive))))))),
        h("section", { "aria-labelledby": "reasons-title" },
            h("h2", { id: "reasons-title" }, "Why it matters"),
            (d.reasons ?? []).length === 0 ? h("p", { class: "empty" }, "No rule matched.") :
                h("ul", { class: "reasons" }, d.reasons.map((r) => h("li", null,
                    badge(r.severity), " ", r.reason, " ",
                    h("small", null, `rule ${r.rule}${r.path ? ", path " + r.path : ""}${r.suppressed ? ", suppressed" : ""}`))))),
        actions,
        remediate,
        h("section", { "aria-labelledby": "reports-title" },
            h("h2", { id: "reports-title" }, "Reports"),
            table("The reports of this item",
                ["", "Report", "Received", "Status"],
                (d.reports ?? []).map((r) => [r.role, h("code", null, r.report_id), time(r.received_at), r.status]),
                "No report recorded.")),
        sightings(d),
        d.state === "resolved" && notice("This drift was resolved by a later report."));
}

const SIGHTINGS_PAGE = 20;

// Every report that saw the item, newest first, a page at a time.
function sightings(d: DriftDetail): HTMLElement {
    const box = errorBox();
    const rows = h("tbody", null);
    const more = h("button", { type: "button", class: "more", hidden: true }, "Show older");
    const section = h("section", { "aria-labelledby": "sightings-title" },
        h("h2", { id: "sightings-title" }, `Seen in ${d.seen_in_reports} report${d.seen_in_reports === 1 ? "" : "s"}`),
        box,
        h("table", { class: "sightings" },
            h("caption", { class: "visually-hidden" }, "Every report that saw this item, newest first"),
            h("thead", null, h("tr", null,
                h("th", { scope: "col" }, "Report"), h("th", { scope: "col" }, "Seen"),
                h("th", { scope: "col" }, "Severity"), h("th", { scope: "col" }, "Status"))),
            rows),
        more);
    let offset = 0;
    const load = async () => {
        try {
            const page = await get<List<Sighting>>(`/api/v1/drift/${encodeURIComponent(d.id)}/sightings`,
                { limit: SIGHTINGS_PAGE, offset });
            for (const g of page.items)
                rows.append(h("tr", null, h("td", null, h("code", null, g.report_id)), h("td", null, time(g.seen_at)),
                    h("td", null, badge(g.severity)), h("td", null, g.status)));
            offset += page.items.length;
            more.hidden = !page.more;
        } catch (e) {
            showError(box, e);
        }
    };
    more.addEventListener("click", () => void load());
    if (d.seen_in_reports > 0) void load();
    return section;
}
