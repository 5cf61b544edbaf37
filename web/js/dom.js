// A few helpers to build elements without a framework.

/** h("button", {testid: "join", onclick}, "Join"): attributes, `testid` → data-testid,
 *  `dataset`, `on*` listeners, children (strings, nodes, arrays; null skipped). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "testid") el.dataset.testid = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** A labelled field: <label for=id>text</label><input id=id data-testid=testid ...>. */
export function field(labelText, testid, props = {}, tag = "input") {
  const id = `f-${testid}`;
  const control = h(tag, { id, name: testid, testid, ...props });
  return { control, el: h("div", { class: "field" }, h("label", { for: id }, labelText), control) };
}

/** Run an async action from a button: disabled while it runs, errors shown. */
export function busy(button, action, onError) {
  return async (event) => {
    if (event) event.preventDefault();
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      onError(error);
    } finally {
      if (button.isConnected) button.disabled = false;
    }
  };
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function money(cents, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency.toUpperCase() }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}
