// Shared pieces of the pages: severity badges, error boxes, form fields, paging.
import { ApiError, type Severity } from "./api";
import { h, clear, type Child } from "./dom";

export function badge(severity: Severity | string, count?: number): HTMLElement {
    const label = count === undefined ? severity : `${severity} ${count}`;
    return h("span", {
        class: `badge sev-${severity}${count === 0 ? " zero" : ""}`,
        "data-severity": severity,
        "data-count": count,
        title: count === undefined ? `severity ${severity}` : `${count} open ${severity}`,
    }, label);
}

// An area that shows errors to the user (role=alert: read out when it fills).
export function errorBox(): HTMLElement {
    return h("div", { class: "error", role: "alert", hidden: true });
}

export function describe(e: unknown): string {
    if (e instanceof ApiError) return e.describe();
    if (e instanceof Error) return e.message;
    return String(e);
}

export function showError(box: HTMLElement, e: unknown): void {
    box.hidden = false;
    clear(box, describe(e));
}

export function hideError(box: HTMLElement): void {
    box.hidden = true;
    clear(box);
}

export function notice(text: string): HTMLElement {
    return h("p", { class: "notice", role: "status" }, text);
}

let fieldId = 0;
// A labelled control: the label names it, hints are tied with aria-describedby.
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement,
                      hint?: string): HTMLElement {
    const id = control.id || `f${++fieldId}`;
    control.id = id;
    let hintEl: HTMLElement | null = null;
    if (hint) {
        hintEl = h("small", { id: `${id}-hint`, class: "hint" }, hint);
        control.setAttribute("aria-describedby", hintEl.id);
    }
    return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

export function select(name: string, options: Array<[string, string]>, value: string): HTMLSelectElement {
    return h("select", { name },
        options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
}

// Disables a form's controls while fn runs; errors go to box.
export async function busy(form: HTMLElement, box: HTMLElement, fn: () => Promise<void>): Promise<void> {
    const controls = Array.from(form.querySelectorAll<HTMLButtonElement | HTMLInputElement>("button, input, select, textarea"));
    const was = controls.map((c) => c.disabled);
    controls.forEach((c) => { c.disabled = true; });
    form.setAttribute("aria-busy", "true");
    hideError(box);
    try {
        await fn();
    } catch (e) {
        showError(box, e);
    } finally {
        controls.forEach((c, i) => { c.disabled = was[i]; });
        form.removeAttribute("aria-busy");
    }
}

export function loading(): HTMLElement {
    return h("p", { class: "loading", role: "status" }, "Loading…");
}

export function table(caption: string, head: string[], rows: Child[][], empty: string): HTMLElement {
    if (rows.length === 0) return h("p", { class: "empty" }, empty);
    return h("table", null,
        h("caption", { class: "visually-hidden" }, caption),
        h("thead", null, h("tr", null, head.map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", null, rows.map((r) => h("tr", null, r.map((c) => h("td", null, c))))));
}

// Copies text, with a fallback for contexts without the clipboard API.
export async function copy(text: string, source?: HTMLTextAreaElement): Promise<boolean> {
    try {
        await navigator.clipboard.writeText(text);
        return true;
    } catch {
        if (source) {
            source.select();
            try { return document.execCommand("copy"); } catch { return false; }
        }
        return false;
    }
}

// Previous / next links of a list page: base is the page's hash route and
// query, offset where this page starts, shown how many it holds.
export function pager(base: string, query: URLSearchParams, offset: number, shown: number,
    more: boolean, size: number): HTMLElement {
    const href = (o: number) => {
        const p = new URLSearchParams(query);
        if (o > 0) p.set("offset", String(o)); else p.delete("offset");
        return `${base}?${p.toString()}`;
    };
    const first = shown ? offset + 1 : 0;
    return h("nav", { class: "pager", "aria-label": "Pages" },
        h("span", null, `${first}–${offset + shown}${more ? " and more" : ""}`),
        offset > 0 && h("a", { href: href(Math.max(0, offset - size)), rel: "prev" }, "← Previous"),
        more && h("a", { href: href(offset + size), rel: "next" }, "Next →"));
}
