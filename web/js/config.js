// web/config.json, read once at start: {"api_url": "...", "realtime_url"?: "..."}. Locally
// local.web writes it from the stack's ports; on AWS the CDK deployment writes it.
export const config = { api_url: "", realtime_url: null };

export async function loadConfig() {
  const reply = await fetch("config.json", { cache: "no-store" });
  if (!reply.ok) throw new Error(`config.json: HTTP ${reply.status}`);
  Object.assign(config, await reply.json());
  config.api_url = String(config.api_url || "").replace(/\/+$/, "");
  if (!config.api_url) throw new Error("config.json has no api_url");
  return config;
}
