// A secret shown once (an invitation's set-password link, an API token):
// a read-only field with a copy button, a warning that it will not be
// shown again, and a button that dismisses it.
import { h, clear } from "./dom";
import { copy, notice } from "./ui";

let onceId = 0;

export function showOnce(where: HTMLElement, title: string, label: string, value: string,
                         explanation: string): void {
    const id = `once-${++onceId}`;
    const text = h("textarea", { readonly: true, rows: 3, id, class: "certificate", spellcheck: "false" }, value);
    const copied = h("span", { role: "status", class: "copied" });
    const copyBtn = h("button", { type: "button" }, `Copy the ${label.toLowerCase()}`);
    copyBtn.addEventListener("click", async () => {
        copied.textContent = (await copy(value, text)) ? "Copied." : "Copy failed: select the text and copy it by hand.";
    });
    clear(where, h("section", { class: "warning issued", role: "alert", "aria-labelledby": `${id}-title` },
        h("h2", { id: `${id}-title` }, title),
        h("p", null, h("strong", null, `This ${label.toLowerCase()} is shown once and never again.`), " ", explanation),
        h("label", { for: id }, label), text,
        h("div", { class: "actions" }, copyBtn, copied),
        h("button", { type: "button", onclick: () => { clear(where, notice(`The ${label.toLowerCase()} was dismissed.`)); } },
            "I have saved it")));
}
