// One command's page (#/commands/{id}), above all a remediation plan's
// review: what the plan would change, per resource and attribute, before ->
// after as the drift view shows it; Approve / Reject for an admin while the
// plan may still be approved (POST /api/v1/commands/{id}/approve, /reject);
// and the command's progress and output, read again every 2 s until it
// ends. Approving opens the APPLY's page, which follows the apply the same
// way and links the report of the check after it.
import { call, canAdmin, get } from "../api";
import { h, clear, time } from "../dom";
import type { Route } from "../main";
import { busy, errorBox, loading, showError, table } from "../ui";
import { value } from "./drift";

interface Update { seq: number; state: string; message: string | null; output: string[]; received_at: string }
interface Command {
    id: string; agent: string; stack: string | null; kind: string; state: string;
    targets: string[]; requested_by: string; approved_by: string | null; rejected_by: string | null;
    created_at: string; finished_at: string | null; message: string | null; report_id: string | null;
    plan_sha256: string | null; plan_command_id: string | null; updates: Update[];
    plan_json: PlanJson | null;
}
// The parts of `terraform show -json` of a plan the review reads.
interface ResourceChange {
    address: string;
    change: { actions: string[]; before: unknown; after: unknown;
              before_sensitive?: unknown; after_sensitive?: unknown };
}
interface PlanJson { resource_changes?: ResourceChange[]; resource_drift?: ResourceChange[] }

const FINAL = ["succeeded", "failed", "refused", "timed_out"];
const PLANS = ["plan", "plan_refresh_only"];

export const commandHref = (id: string) => `#/commands/${encodeURIComponent(id)}`;

// The top-level attributes whose value differs between before and after.
function attributes(c: ResourceChange["change"]): Array<[string, unknown, unknown, boolean]> {
    const record = (v: unknown) => (v !== null && typeof v === "object" ? v as Record<string, unknown> : {});
    const before = record(c.before), after = record(c.after);
    const sensitive = { ...record(c.before_sensitive), ...record(c.after_sensitive) };
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]))
        .map((k) => [k, before[k], after[k], Boolean(sensitive[k])]);
}

// What the plan would change: a normal plan's resource_changes (no-ops left
// out), else a refresh-only plan's resource_drift (accept into state).
function review(plan: PlanJson): HTMLElement {
    const changes = (plan.resource_changes ?? []).filter((r) => !r.change.actions.every((a) => a === "no-op"));
    const shown = changes.length > 0 ? changes : (plan.resource_drift ?? []);
    if (shown.length === 0) return h("p", { class: "empty" }, "The plan changes nothing.");
    return h("div", null, shown.map((r) => h("section", { class: "card", "data-address": r.address },
        h("h3", null, h("code", null, r.address), " ",
            h("span", { class: "tag" }, r.change.actions.join(", "))),
        h("table", { class: "changes" },
            h("caption", { class: "visually-hidden" }, `Before and after, per attribute, of ${r.address}`),
            h("thead", null, h("tr", null, h("th", { scope: "col" }, "Attribute"), h("th", { scope: "col" }, "Before"),
                h("th", { scope: "col", class: "arrow" }, ""), h("th", { scope: "col" }, "After"))),
            h("tbody", null, attributes(r.change).map(([k, before, after, sensitive]) =>
                h("tr", { "data-path": k }, h("th", { scope: "row" }, h("code", null, k)),
                    h("td", { class: "before" }, value(before === undefined ? null : JSON.stringify(before), sensitive)),
                    h("td", { class: "arrow", "aria-hidden": "true" }, "→"),
                    h("td", { class: "after" }, value(after === undefined ? null : JSON.stringify(after), sensitive)))))))));
}

export async function commandPage(main: HTMLElement, route: Route): Promise<void> {
    const id = route.path[1];
    document.title = "Command · drift";
    const box = errorBox();
    const body = h("div", null, loading());
    clear(main, h("p", null, h("a", { href: "#/stacks" }, "← Stacks")), box, body);
    await fill(body, id, box, true);
}

async function fill(body: HTMLElement, id: string, box: HTMLElement, first: boolean): Promise<void> {
    let c: Command;
    try {
        c = await get<Command>(`/api/v1/commands/${encodeURIComponent(id)}`);
    } catch (e) {
        clear(body);
        showError(box, e);
        return;
    }
    if (!body.isConnected && !first) return;
    const isPlan = PLANS.includes(c.kind);
    const title = isPlan ? (c.kind === "plan" ? "Remediation plan" : "Plan: accept into state")
        : c.kind === "apply" ? "Apply" : "Check";
    document.title = `${title} · drift`;
    const decided = c.approved_by ? `approved by ${c.approved_by}` : c.rejected_by ? `rejected by ${c.rejected_by}` : null;
    const facts = h("dl", { class: "facts" },
        h("dt", null, "Stack"), h("dd", null, c.stack ?? "all"),
        h("dt", null, "State"), h("dd", null, h("span", { class: `tag command-${c.state}`, id: "command-state" }, c.state.replace("_", " "))),
        h("dt", null, "Asked by"), h("dd", null, c.requested_by, " ", time(c.created_at)),
        decided && h("dt", null, "Decision"), decided && h("dd", { id: "command-decision" }, decided),
        c.targets.length > 0 && h("dt", null, "Targets"), c.targets.length > 0 && h("dd", null, c.targets.join(", ")),
        c.plan_sha256 && h("dt", null, "Plan SHA-256"), c.plan_sha256 && h("dd", null, h("code", null, c.plan_sha256)),
        c.plan_command_id && h("dt", null, "Plan"), c.plan_command_id && h("dd", null, h("a", { href: commandHref(c.plan_command_id) }, "the approved plan")),
        c.message && h("dt", null, "Message"), c.message && h("dd", { id: "command-message" }, c.message),
        c.report_id && h("dt", null, "Report"), c.report_id && h("dd", { id: "command-report" }, h("code", null, c.report_id)));

    const actionBox = errorBox();
    let actions: HTMLElement | null = null;
    if (isPlan && canAdmin() && c.state === "succeeded" && c.plan_sha256 && !decided) {
        const approve = h("button", { type: "button" }, "Approve and apply");
        const reject = h("button", { type: "button", class: "danger" }, "Reject");
        actions = h("div", { class: "actions" }, approve, reject);
        const wrap = actions;
        approve.addEventListener("click", () => void busy(wrap, actionBox, async () => {
            const applied = await call<Command>("POST", `/api/v1/commands/${encodeURIComponent(c.id)}/approve`);
            location.hash = commandHref(applied.id);
        }));
        reject.addEventListener("click", () => void busy(wrap, actionBox, async () => {
            await call("POST", `/api/v1/commands/${encodeURIComponent(c.id)}/reject`);
            await fill(body, id, box, false);
        }));
    }
    const output = c.updates.flatMap((u) => u.output);
    clear(body, h("h1", null, title), facts,
        isPlan && h("section", { "aria-labelledby": "review-title" },
            h("h2", { id: "review-title" }, "What the plan would change"),
            c.plan_json ? review(c.plan_json)
                : h("p", { class: "empty" }, FINAL.includes(c.state) ? "No plan was made." : "The agent has not sent the plan yet.")),
        actionBox, actions,
        h("section", { "aria-labelledby": "progress-title", "aria-live": "polite" },
            h("h2", { id: "progress-title" }, "Progress"),
            table("Updates from the agent", ["#", "State", "Message", "Received"],
                c.updates.map((u) => [u.seq, u.state.replace("_", " "), u.message ?? "", time(u.received_at)]), "Not with the agent yet."),
            output.length > 0 && h("pre", { class: "output", id: "command-output" }, output.join("\n"))));
    // Read again while it is under way and the page is still shown.
    if (!FINAL.includes(c.state))
        setTimeout(() => { if (body.isConnected) void fill(body, id, box, false); }, 2000);
}
