// Hash routes: "#/spaces/01H...?checkout=success" → {name, params: {id}, query: URLSearchParams}.
const ROUTES = [
  ["feed", /^\/$/],
  ["signup", /^\/signup$/],
  ["signin", /^\/signin$/],
  ["create", /^\/create$/],
  ["search", /^\/search$/],
  ["inbox", /^\/inbox$/],
  ["payouts", /^\/payouts$/],
  ["space", /^\/spaces\/([^/?]+)$/],
  ["user", /^\/users\/([^/?]+)$/],
];

export function parse(hash) {
  const raw = (hash || "").replace(/^#/, "") || "/";
  const [path, search = ""] = raw.split("?", 2);
  for (const [name, pattern] of ROUTES) {
    const match = pattern.exec(path);
    if (match) return { name, id: match[1] ? decodeURIComponent(match[1]) : null, query: new URLSearchParams(search), path };
  }
  return { name: "not_found", id: null, query: new URLSearchParams(search), path };
}

export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = hash;
}

export function start(render) {
  window.addEventListener("hashchange", () => render(parse(location.hash)));
  render(parse(location.hash));
}
