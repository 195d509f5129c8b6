/**
 * Webhook URLs and headers carry secrets (a Slack or Teams URL is itself the
 * credential; headers carry tokens), so no answer or log line shows them:
 * only where a webhook goes (scheme and host) and which headers it sends.
 */
export const REDACTED = '<redacted>';

export function redactUrl(url: string): string {
  try {
    const { protocol, host } = new URL(url);
    return `${protocol}//${host}/${REDACTED}`;
  } catch {
    return REDACTED;
  }
}

export function redactWebhook(webhook: { url: string; headers: Record<string, string> }): { url: string; headers: Record<string, string> } {
  return { url: redactUrl(webhook.url), headers: Object.fromEntries(Object.keys(webhook.headers).map((name) => [name, REDACTED])) };
}
