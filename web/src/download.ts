// A button that downloads one of the API's CSV exports (docs/API.md,
// "Exports"). The API wants the access token in a header, which a plain
// link cannot send: the file is fetched, then saved through a link to its
// blob, under the name the API gave it.
import { file } from "./api";
import { h } from "./dom";
import { busy } from "./ui";

export function downloadButton(label: string, path: string, query: Record<string, string | undefined>,
    box: HTMLElement): HTMLElement {
    const button = h("button", { type: "button", class: "download" }, label);
    const wrap = h("span", { class: "download-wrap" }, button);
    button.addEventListener("click", () => void busy(wrap, box, async () => {
        const { blob, name } = await file(path, { ...query, format: "csv" });
        const url = URL.createObjectURL(blob);
        const link = h("a", { href: url, download: name, hidden: true });
        document.body.append(link);
        link.click();
        link.remove();
        // The browser has taken the file once the click's task is done.
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
    }));
    return wrap;
}
