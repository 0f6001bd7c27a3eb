/** en holds the console's English messages; zh.ts must have the same shape. */
const en = {
  app: { title: 'Key-IP Sentinel', language: 'Language', theme: 'Theme', dark: 'Dark', light: 'Light', logout: 'Log out', menu: 'Menu' },
  nav: { dashboard: 'Dashboard', bindings: 'Bindings', logs: 'Intercept logs', settings: 'Settings', audit: 'Audit log' },
  common: {
    refresh: 'Refresh', search: 'Search', reset: 'Reset', cancel: 'Cancel', confirm: 'Confirm', save: 'Save', close: 'Close',
    actions: 'Actions', all: 'All', none: 'None', loading: 'Loading…', failed: 'Request failed', done: 'Done', yes: 'Yes', no: 'No',
    total: 'Total', more: 'More',
  },
  login: {
    title: 'Sign in to Sentinel', password: 'Admin password', submit: 'Sign in', required: 'Enter the admin password',
    wrong: 'Wrong password.', locked: 'Too many failed attempts. Try again in {time}.', lockedUnknown: 'Too many failed attempts. Try again later.',
    expired: 'Your session expired. Sign in again to continue.',
  },
  dashboard: {
    today: 'Today', allowed: 'Allowed', refused: 'Refused', newBindings: 'New bindings', trend: 'Trend', days: 'Last {n} days',
    bindingsByStatus: 'Bindings by status', bindingsByRule: 'Bindings by rule', topKeys: 'Top refused keys', topIps: 'Top refused IPs',
    count: 'Count', key: 'Key', ip: 'IP', empty: 'Nothing refused yet',
  },
  status: { active: 'Active', banned: 'Banned' },
  rule: {
    kind: 'Rule', single: 'Single address', multiple: 'Several addresses', all: 'Any address', learn: 'Learn first N',
    prefixes: 'Addresses or CIDRs', prefix: 'IP or CIDR, e.g. 10.0.0.0/24', limit: 'Addresses to learn', add: 'Add address',
    help: {
      single: 'Exactly one IP address or CIDR is allowed.', multiple: 'One to 256 IP addresses or CIDRs.',
      all: 'Every client address is allowed: the key is not bound.', learn: 'The first N distinct addresses become the allowed set (N ≥ 2).',
    },
    needOne: 'Enter exactly one address or CIDR', needSome: 'Enter 1 to {max} addresses or CIDRs', badPrefix: 'Not an IP address or CIDR: {v}',
    needLimit: 'The limit must be from 2 to {max}',
  },
  bindings: {
    keyHint: 'Key', status: 'Status', rule: 'Rule', firstIp: 'First IP', lastIp: 'Last IP', createdAt: 'Created', lastUsedAt: 'Last used',
    filterStatus: 'Status', filterRule: 'Rule', filterIp: 'IP or subnet', findKey: 'Find by key', findKeyPlaceholder: 'Paste an API key (sent only in a request body)',
    find: 'Find', notFound: 'No binding for that key', unbind: 'Unbind', ban: 'Ban', unban: 'Unban', editRule: 'Edit rule', detail: 'Details',
    confirmUnbind: 'Unbind {key}? The key binds afresh on its next use.', confirmBan: 'Ban {key}? Every request with it will be refused.',
    confirmUnban: 'Unban {key}?', bulkBan: 'Ban selected ({n})', bulkUnbind: 'Unbind selected ({n})',
    confirmBulkBan: 'Ban {n} keys?', confirmBulkUnbind: 'Unbind {n} keys?', bulkDone: '{ok} done, {failed} failed',
    recentIntercepts: 'Recent intercepts', auditEntries: 'Audit entries', noIntercepts: 'No intercepts', noAudit: 'No audit entries',
    sortBy: 'Sort', id: 'ID', updatedAt: 'Updated', logsForBinding: 'Logs for this binding',
    current: 'Current', archived: 'Archived', archivedAt: 'Archived', restore: 'Restore',
    confirmRestore: 'Restore {key} with its rule and status?', restoreConflict: '{key} has bound afresh since it was archived: unbind the new binding first.',
  },
  logs: {
    at: 'Time', keyHint: 'Key', clientIp: 'Client IP', reason: 'Reason', enforced: 'Enforced', method: 'Method', path: 'Path', userAgent: 'User agent',
    filterIp: 'IP or subnet', bindingId: 'Binding ID', range: 'Time range', start: 'From', end: 'To', autoRefresh: 'Auto-refresh', export: 'Export CSV',
    exporting: 'Exporting…', monitorOnly: 'logged only',
  },
  settings: {
    enforceMode: 'Enforcement', enforce: 'Enforce (refuse)', monitor: 'Monitor (log only)', failsafeMode: 'When the store is down',
    closed: 'Refuse (fail closed)', open: 'Allow (fail open)', alertCount: 'Alert after refusals', alertSeconds: 'Alert window (seconds)',
    webhook: 'Alert webhook URL', webhookSet: 'Set (host {host}). Enter a new URL to replace it.', webhookUnset: 'Not set',
    webhookPlaceholder: 'https://hooks.example.com/…', webhookBad: 'Enter an http or https URL', archiveDays: 'Archive unused bindings after (days)', archiveHint: '0 = never',
    saved: 'Settings saved', testWebhook: 'Send test alert', tested: 'Test alert delivered to {host} (HTTP {status}, {ms} ms)', testFailed: 'Test alert not delivered to {host}: {error}', range: 'A whole number from {min} to {max}', clearWebhook: 'Remove webhook',
  },
  reasons: { ip_not_allowed: 'IP not allowed', key_banned: 'Key banned', multiple_keys: 'Several keys', invalid_key: 'Invalid key', invalid_client_ip: 'Bad client IP' },
  auditActions: { unbind: 'Unbind', set_rule: 'Rule change', ban: 'Ban', unban: 'Unban', settings: 'Settings', restore: 'Restore', webhook_test: 'Webhook test' },
  audit: { changes: 'Changes', at: 'Time', actor: 'Who', clientIp: 'Client IP', action: 'Action', bindingId: 'Binding', before: 'Before', after: 'After', range: 'Time range' },
  notFound: { title: 'Page not found', back: 'Back to the dashboard' },
}

export default en
