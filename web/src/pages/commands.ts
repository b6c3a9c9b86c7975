// A stack's commands on its page: the "Check now" button (admins) and the
// list of commands sent to its agent with their state and output
// (proto/AGENT-LINK.md section 7; GET /api/v1/commands, /commands/{id}).
// While one is not finished the list is read again every 2 s. Admins also
// ask here for a remediation plan of the stack (Remediate: back to the code;
// Accept into state), reviewed and approved on its page (remediation.ts).
import { call, canAdmin, get, type List } from "../api";
import { h, clear, time } from "../dom";
import { busy, showError, table } from "../ui";
import { commandHref } from "./remediation";

interface Command {
    id: string; agent: string; stack: string | null; kind: string; state: string;
    requested_by: string; created_at: string; finished_at: string | null;
    message: string | null; report_id: string | null;
}
interface Update { seq: number; state: string; message: string | null; output: string[] }

const FINAL = ["succeeded", "failed", "refused", "timed_out"];

// The section, filled now and kept current while the page shows it.
export function commandsSection(stackId: string, box: HTMLElement): HTMLElement {
    const list = h("div", { "aria-live": "polite" });
    const section = h("section", { "aria-labelledby": "commands-title" },
        h("h2", { id: "commands-title" }, "Commands"));
    if (canAdmin()) {
        const button = h("button", { type: "button" }, "Check now");
        // Remediation: a plan of the whole stack, reviewed on its own page.
        const revert = h("button", { type: "button" }, "Remediate");
        const accept = h("button", { type: "button" }, "Accept into state");
        const wrap = h("div", { class: "actions" }, button, revert, accept);
        button.addEventListener("click", () => {
            void busy(wrap, box, async () => {
                await call("POST", `/api/v1/stacks/${encodeURIComponent(stackId)}/check`);
                await fill(list, stackId, box);
            });
        });
        for (const [control, mode] of [[revert, "revert"], [accept, "accept"]] as const) {
            control.addEventListener("click", () => {
                void busy(wrap, box, async () => {
                    const plan = await call<Command>("POST",
                        `/api/v1/stacks/${encodeURIComponent(stackId)}/remediations`, { mode });
                    location.hash = commandHref(plan.id);
                });
            });
        }
        section.append(wrap);
    }
    section.append(list);
    void fill(list, stackId, box);
    return section;
}

async function fill(list: HTMLElement, stackId: string, box: HTMLElement): Promise<void> {
    let page: List<Command>;
    try {
        page = await get<List<Command>>("/api/v1/commands", { stack: stackId, limit: 10 });
    } catch (e) {
        showError(box, e);
        return;
    }
    const rows = await Promise.all(page.items.map(async (c) => {
        const detail = await get<Command & { updates: Update[] }>(`/api/v1/commands/${encodeURIComponent(c.id)}`);
        const output = detail.updates.flatMap((u) => u.output);
        return [
            h("a", { href: commandHref(c.id) }, c.kind.replace(/_/g, " ")), h("span", { class: `tag command-${c.state}` }, c.state.replace("_", " ")),
            c.requested_by, time(c.created_at), time(c.finished_at),
            h("div", null, c.message ?? "",
                output.length > 0 && h("pre", { class: "output" }, output.join("\n"))),
        ];
    }));
    clear(list, table("Commands of this stack",
        ["Kind", "State", "Asked by", "Asked", "Finished", "Output"], rows, "No commands yet."));
    // Only while the list is on the page and a command is under way.
    if (list.isConnected && page.items.some((c) => !FINAL.includes(c.state)))
        setTimeout(() => { if (list.isConnected) void fill(list, stackId, box); }, 2000);
}
