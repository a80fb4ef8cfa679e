import type { HttpGet } from './types.ts';

/**
 * The default `HttpGet`: Node's fetch with a timeout. Resolves with any HTTP
 * status; rejects on transport errors, timeout or abort. The composition root
 * may inject another client (axios with proxies, TLS settings).
 */
export const fetchHttpGet: HttpGet = async (url, { timeoutMs, signal }) => {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, {
    signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
    headers: { accept: 'application/json' },
    redirect: 'manual', // a 3xx is answered as is (an error to the caller): redirects are never followed
  });
  return { status: res.status, body: await res.text() };
};
