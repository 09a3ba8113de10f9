// A few helpers to build the DOM without a framework. Text goes in as text
// nodes, never as HTML: nothing a service logged can become markup.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | EventListener>;

/** h creates an element: attributes (on* are listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  set(el, attrs);
  append(el, children);
  return el;
}

const svgNS = 'http://www.w3.org/2000/svg';

/** s creates an SVG element. */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(svgNS, tag);
  set(el, attrs);
  append(el, children);
  return el;
}

function set(el: Element, attrs: Attrs) {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el: Element, children: (Child | Child[])[]) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** link is an anchor the router follows without reloading the page. */
export function link(href: string, ...children: (Child | Child[])[]): HTMLAnchorElement {
  return h('a', { href, 'data-nav': true }, ...children);
}

/** replace empties el and fills it with children. */
export function replace(el: Element, ...children: (Child | Child[])[]) {
  el.replaceChildren();
  append(el, children);
}
