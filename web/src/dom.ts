// A tiny DOM builder: h("button", {type: "submit", onclick}, "Save").
// Text is always set as text (never as HTML), so values from the API can
// not inject markup.

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(
    tag: K, attrs: Attrs | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
    const el = document.createElement(tag);
    if (attrs) {
        for (const [name, value] of Object.entries(attrs)) {
            if (value === undefined || value === null || value === false) continue;
            if (name.startsWith("on") && typeof value === "function") {
                el.addEventListener(name.slice(2).toLowerCase(), value as EventListener);
            } else if (name === "class") {
                el.className = String(value);
            } else if (name === "value" && "value" in el) {
                (el as unknown as { value: string }).value = String(value);
            } else if (value === true) {
                el.setAttribute(name, "");
            } else {
                el.setAttribute(name, String(value));
            }
        }
    }
    append(el, children);
    return el;
}

export function append(parent: Node, children: Child[]): void {
    for (const child of children) {
        if (child === null || child === undefined || child === false) continue;
        if (Array.isArray(child)) append(parent, child);
        else if (child instanceof Node) parent.appendChild(child);
        else parent.appendChild(document.createTextNode(String(child)));
    }
}

export function clear(el: Element, ...children: Child[]): void {
    el.replaceChildren();
    append(el, children);
}

// "2026-11-27T10:00:00Z" -> "2026-11-27 10:00 UTC" (with the full time as a tooltip).
export function time(iso: string | null | undefined): Node {
    if (!iso) return document.createTextNode("—");
    const t = h("time", { datetime: iso, title: iso });
    const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
    t.textContent = m ? `${m[1]} ${m[2]} UTC` : iso;
    return t;
}

// "3 minutes ago" style age, for stale stacks.
export function ago(iso: string | null | undefined): string {
    if (!iso) return "never";
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (!Number.isFinite(s)) return iso;
    if (s < 90) return `${Math.round(s)} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 129600) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
}
