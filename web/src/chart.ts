// Charts drawn as SVG by the dashboard itself (no chart library, nothing
// fetched): bars (stacked or side by side) and lines with points, over
// categories such as days or weeks. Each chart is a <figure> with a title,
// a legend, axes with labels, and a <title> on every bar and point (the
// browser shows it as a tooltip; screen readers get the figure's summary).
// Colours come from the stylesheet (classes s-NAME), so the charts follow
// the dashboard's light and dark themes; the API's Content-Security-Policy
// refuses inline styles, and none are used.
//
// The markup is the contract the browser test reads: figure[data-chart],
// one g.series[data-series] per series, one [data-value] mark per category
// in each, in order.
import { h } from "./dom";

const NS = "http://www.w3.org/2000/svg";
type SvgAttrs = Record<string, string | number | undefined>;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: SvgAttrs = {},
    ...children: Array<SVGElement | string>): SVGElementTagNameMap[K] {
    const el = document.createElementNS(NS, tag);
    for (const [name, value] of Object.entries(attrs)) {
        if (value !== undefined) el.setAttribute(name, String(value));
    }
    for (const child of children) el.append(child);
    return el;
}

export interface Series {
    name: string;               // what the legend says
    key: string;                // colour class s-KEY and data-series
    values: Array<number | null>; // one per category; null: no value (a gap)
}

export interface ChartOptions {
    id: string;                 // data-chart, and the ids of its title
    title: string;
    categories: string[];       // x: YYYY-MM-DD days or weeks
    series: Series[];
    kind: "stacked" | "grouped" | "lines";
    yLabel: string;             // the y axis' unit, e.g. "items"
    empty: string;              // said instead of a chart when there is nothing to draw
    format?: (v: number) => string;  // a value as tooltips say it (default: the number)
    unit?: (max: number) => { size: number; label: string };  // scale of the y axis' ticks
    describe?: (category: string) => string;  // a category in tooltips (default: itself)
    integer?: boolean;          // the values are counts: whole-number ticks only
    wide?: boolean;             // drawn across the page (else half of it): text keeps its size
    hasData?: boolean;          // whether there is anything to draw (default: a value above 0)
}

const H = 250;
const M = { top: 12, right: 16, bottom: 34, left: 56 };
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// "2026-12-05" -> "Dec 5" (UTC dates: no time zone shifts a day).
export function shortDay(day: string): string {
    const m = /^\d{4}-(\d{2})-(\d{2})$/.exec(day);
    return m ? `${MONTHS[Number(m[1]) - 1]} ${Number(m[2])}` : day;
}

// Ticks 0, step, 2 step, ... covering max, step a 1, 2 or 5 times a power
// of ten (at least 1 for counts).
function ticks(max: number, integer: boolean): number[] {
    if (!(max > 0)) return [0, 1];
    const raw = integer ? Math.max(1, max / 4) : max / 4;
    const power = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw) ?? 10 * power;
    const out: number[] = [];
    for (let v = 0; v < max + step * 0.999; v += step) out.push(Math.round(v * 1e6) / 1e6);
    return out;
}

// The chart as a figure; a figure holding only the empty message when every
// value is zero or missing.
export function chart(o: ChartOptions): HTMLElement {
    const titleId = `chart-${o.id}-title`;
    const figure = h("figure", { class: "chart", "data-chart": o.id, "aria-labelledby": titleId },
        h("figcaption", { id: titleId }, o.title));
    const all = o.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
    if (o.categories.length === 0 || !(o.hasData ?? all.some((v) => v > 0))) {
        figure.append(h("p", { class: "empty chart-empty" }, o.empty));
        figure.dataset.empty = "true";
        return figure;
    }
    figure.append(h("ul", { class: "legend", "aria-label": `${o.title}: legend` },
        o.series.map((s) => h("li", null, h("span", { class: `swatch s-${s.key}`, "aria-hidden": "true" }), s.name))));

    const n = o.categories.length;
    const stackedTotals = o.categories.map((_, i) => o.series.reduce((t, s) => t + (s.values[i] ?? 0), 0));
    const rawMax = o.kind === "stacked" ? Math.max(...stackedTotals) : Math.max(...all);
    const unit = o.unit ? o.unit(rawMax) : { size: 1, label: o.yLabel };
    const yTicks = ticks(rawMax / unit.size, o.integer ?? false).map((t) => t * unit.size);
    const W = o.wide ? 1000 : 500;
    const top = yTicks[yTicks.length - 1] || 1;
    const plotW = W - M.left - M.right, plotH = H - M.top - M.bottom;
    const x = (i: number) => M.left + (plotW * (i + 0.5)) / n;
    const y = (v: number) => M.top + plotH - (plotH * v) / top;
    const band = plotW / n;
    const fmt = o.format ?? ((v: number) => String(v));
    const say = o.describe ?? ((c: string) => c);

    const root = svg("svg", {
        viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": titleId,
        class: `chart-svg chart-${o.kind}`, preserveAspectRatio: "xMidYMid meet",
    });
    // The y axis: grid lines with their values, and the unit.
    const grid = svg("g", { class: "axis axis-y" });
    for (const t of yTicks) {
        grid.append(svg("line", { x1: M.left, x2: W - M.right, y1: y(t), y2: y(t), class: t === 0 ? "baseline" : "grid" }),
            svg("text", { x: M.left - 6, y: y(t) + 4, "text-anchor": "end" }, String(Math.round((t / unit.size) * 100) / 100)));
    }
    grid.append(svg("text", { class: "axis-label", x: 12, y: M.top + plotH / 2, "text-anchor": "middle",
        transform: `rotate(-90 12 ${M.top + plotH / 2})` }, unit.label));
    root.append(grid);
    // The x axis: at most about 10 labels (5 on a half), always the last one.
    const every = Math.max(1, Math.ceil(n / (o.wide ? 10 : 5)));
    const xAxis = svg("g", { class: "axis axis-x" });
    o.categories.forEach((c, i) => {
        if ((n - 1 - i) % every !== 0) return;
        xAxis.append(svg("line", { x1: x(i), x2: x(i), y1: M.top + plotH, y2: M.top + plotH + 4, class: "tick" }),
            svg("text", { x: x(i), y: M.top + plotH + 18, "text-anchor": "middle" }, shortDay(c)));
    });
    root.append(xAxis);

    const below = new Array<number>(n).fill(0);
    o.series.forEach((s, k) => {
        const g = svg("g", { class: `series s-${s.key}`, "data-series": s.key });
        if (o.kind === "lines") {
            // A line through the values, broken where one is missing.
            let d = "";
            s.values.forEach((v, i) => {
                if (v === null) { d += " "; return; }
                d += `${d === "" || d.endsWith(" ") ? "M" : "L"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
            });
            g.append(svg("path", { d: d.trim().replace(/ +/g, " "), class: "line" }));
        }
        s.values.forEach((v, i) => {
            const tip = svg("title", {}, `${say(o.categories[i])} · ${s.name}: ${v === null ? "none" : fmt(v)}`);
            const value = v === null ? "" : String(v);
            if (o.kind === "lines") {
                g.append(svg("circle", { cx: x(i).toFixed(1), cy: y(v ?? 0).toFixed(1), r: n > 60 ? 2 : 3.5,
                    class: v === null ? "point missing" : "point", "data-value": value, "data-category": o.categories[i] }, tip));
                return;
            }
            const gap = Math.min(2, band * 0.15);
            let left = x(i) - band / 2 + gap, width = band - 2 * gap, base = 0;
            if (o.kind === "grouped") {
                width = (band - 2 * gap) / o.series.length;
                left += k * width;
            } else {
                base = below[i];
                below[i] += v ?? 0;
            }
            // A value of 0 beside bars (a fix within the second) still shows, thin.
            const least = o.kind === "grouped" && v !== null ? 1.5 : 0;
            const height = Math.max(least, y(base) - y(base + (v ?? 0)));
            g.append(svg("rect", { x: left.toFixed(2), y: (y(base) - height).toFixed(2), width: Math.max(0.5, width).toFixed(2),
                height: height.toFixed(2), class: "bar", "data-value": value,
                "data-category": o.categories[i] }, tip));
        });
        root.append(g);
    });
    figure.append(root);
    return figure;
}
