// The one place the console talks HTTP: a typed openapi-fetch client generated
// from the admin API's OpenAPI document, plus the few helpers that need raw
// responses (the CSV download).
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

/** Auth hooks installed once by the session store; kept here so the client has no Pinia dependency. */
interface AuthHooks {
  token: () => string | null
  onUnauthorized: () => void
}

let hooks: AuthHooks = { token: () => null, onUnauthorized: () => {} }

/** setAuthHooks tells the client where the bearer token lives and what to do on a 401. */
export function setAuthHooks(h: AuthHooks): void {
  hooks = h
}

const LOGIN_PATH = '/admin/api/login'

const auth: Middleware = {
  onRequest({ request }) {
    const token = hooks.token()
    if (token && !request.url.endsWith(LOGIN_PATH)) request.headers.set('Authorization', `Bearer ${token}`)
    return request
  },
  onResponse({ request, response }) {
    // A 401 on any route but login means the session expired or was revoked.
    if (response.status === 401 && !request.url.endsWith(LOGIN_PATH)) hooks.onUnauthorized()
    return response
  },
}

/** api is the typed admin API client; every request carries the session's bearer token. */
export const api = createClient<paths>({ baseUrl: window.location.origin })
api.use(auth)

/** Problem is Huma's RFC 9457 error body. */
export type Problem = components['schemas']['ErrorModel']

/** problemText turns an error body into one line for a message box. */
export function problemText(p: Problem | undefined, fallback: string): string {
  if (!p) return fallback
  const details = (p.errors ?? []).map((e) => e.message).filter((m): m is string => !!m)
  return [p.detail, ...details].filter(Boolean).join(': ') || p.title || fallback
}

/**
 * fieldErrors maps a 422 body's errors to the last path segment of their
 * location ("body.rule.prefixes[0]" → "prefixes") so a form can show each
 * message next to its field.
 */
export function fieldErrors(p: Problem | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of p?.errors ?? []) {
    const loc = (e.location ?? '').replace(/\[\d+\]/g, '')
    const field = loc.split('.').pop() ?? ''
    if (field && e.message && !out[field]) out[field] = e.message
  }
  return out
}

/** saveBlob hands a downloaded file to the browser under a name. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = filename
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** filenameFrom reads a Content-Disposition filename, falling back to a default. */
export function filenameFrom(res: Response, fallback: string): string {
  const cd = res.headers.get('Content-Disposition') ?? ''
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd)
  return m?.[1] ? decodeURIComponent(m[1]) : fallback
}
