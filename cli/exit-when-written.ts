/**
 * Ends the process with `code` once what it wrote to stdout and stderr is out, without waiting
 * for what else is still open. A one-shot `quell client` is done when its result is printed;
 * letting its gRPC channel close gracefully (HTTP/2 GOAWAY, TLS close) would add waiting for the
 * coordinator to what the operator waits for.
 */
export async function exitWhenWritten(code: number): Promise<never> {
  // the callback of an empty write runs after every earlier write (also when the stream failed)
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise<void>((resolve) => s.write('', () => resolve()))));
  process.exit(code);
}
