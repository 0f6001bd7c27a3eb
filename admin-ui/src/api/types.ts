// Names for the generated request and response shapes the pages use. Every
// type here is derived from src/api/schema.d.ts (generated); none is written by hand.
import type { paths } from './schema'

type JSONBody<R> = R extends { content: { 'application/json': infer T } } ? T : never
type OK<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: { 200: infer R } }
  ? JSONBody<R>
  : never
type Query<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  parameters: { query?: infer Q }
}
  ? NonNullable<Q>
  : never
type RequestBody<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: infer B
}
  ? JSONBody<NonNullable<B>>
  : never

export type BindingPage = OK<'/admin/api/bindings', 'get'>
export type Binding = NonNullable<BindingPage['items']>[number]
export type BindingQuery = Query<'/admin/api/bindings', 'get'>
export type BindingDetail = OK<'/admin/api/bindings/{id}', 'get'>
export type Rule = RequestBody<'/admin/api/bindings/ip', 'put'>['rule']
export type RuleKind = Rule['kind']

export type LogPage = OK<'/admin/api/logs', 'get'>
export type Intercept = NonNullable<LogPage['items']>[number]
export type LogQuery = Query<'/admin/api/logs', 'get'>
export type Reason = NonNullable<LogQuery['reason']>
export type ExportQuery = Query<'/admin/api/logs/export', 'get'>

export type Dashboard = OK<'/admin/api/dashboard', 'get'>
export type DashboardDays = NonNullable<Query<'/admin/api/dashboard', 'get'>['days']>

export type Settings = OK<'/admin/api/settings', 'get'>
export type SettingsUpdate = RequestBody<'/admin/api/settings', 'put'>
export type WebhookTestResult = OK<'/admin/api/settings/webhook/test', 'post'>

export type AuditPage = OK<'/admin/api/audit', 'get'>
export type AuditEntry = NonNullable<AuditPage['items']>[number]
export type AuditAction = AuditEntry['action']
export type AuditQuery = Query<'/admin/api/audit', 'get'>

export type Session = OK<'/admin/api/session', 'get'>
