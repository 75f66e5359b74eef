import { createHash } from 'node:crypto';

/** What a MySQL client sends for mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))). */
export function nativePasswordReply(password: string, scramble: Buffer): Buffer {
  const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest();
  const stage1 = sha1(Buffer.from(password));
  const mask = sha1(Buffer.concat([scramble, sha1(stage1)]));
  return Buffer.from(stage1.map((b, i) => b ^ (mask[i] ?? 0)));
}
