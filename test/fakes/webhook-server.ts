import { createHmac, timingSafeEqual } from 'node:crypto';
import { startCenterServer } from './center-http.ts';

/**
 * A webhook receiver that verifies `X-Covgate-Signature: sha256=<hex>` the
 * way GitHub tells receivers to verify X-Hub-Signature-256
 * (docs.github.com "Validating webhook deliveries"): HMAC-SHA256 of the raw
 * body with the shared secret, compared in constant time; 401 otherwise.
 */
export async function startWebhook(secret: string) {
  const accepted: Array<{ raw: Buffer; headers: Record<string, unknown> }> = [];
  const server = await startCenterServer((req) => {
    const sig = String(req.headers['x-covgate-signature'] ?? '');
    // The body as it came over the wire: the signature covers the (possibly gzipped) bytes.
    const raw = req.rawBody;
    const want = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
    if (sig.length !== want.length || !timingSafeEqual(Buffer.from(sig), Buffer.from(want))) return { status: 401, body: { message: 'signature mismatch' } };
    accepted.push({ raw, headers: req.headers });
    return { status: 202, body: { ok: true } };
  });
  return { ...server, accepted };
}
