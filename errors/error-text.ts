/**
 * An error as an operator needs it, in one line: the driver's code and the server's words
 * ("28P01: password authentication failed …", "ECONNREFUSED: connect …"), the parts of an
 * AggregateError (Node's happy-eyeballs connect failure has an empty message), and never the
 * secret nor the password of a URL. Every log line and message that shows a caught error goes through here.
 */
export function errorText(err: unknown, secret?: string): string {
  let text: string;
  if (err instanceof AggregateError && err.errors.length > 0 && !err.message) {
    text = err.errors.map((e) => errorText(e)).join('; ');
  } else if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    text = typeof code === 'string' && code !== '' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message || String(code ?? 'unknown error');
  } else {
    text = String(err);
  }
  text = redactUrlCredentials(text);
  return secret ? text.split(secret).join('***') : text;
}

/** scheme://user:password@ (the password ends at the last @ before the host) */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):[^\s/?#]*@/gi;

/** The text with the password of every URL in it (`https://user:pw@host:2379`) shown as `***`. */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1:***@');
}
