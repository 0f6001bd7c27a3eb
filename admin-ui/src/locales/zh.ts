import type en from './en'

/** zh holds the console's Simplified Chinese messages, the same shape as en. */
const zh: typeof en = {
  app: { title: 'Key-IP Sentinel', language: '语言', theme: '主题', dark: '深色', light: '浅色', logout: '退出登录', menu: '菜单' },
  nav: { dashboard: '仪表盘', bindings: '绑定', logs: '拦截日志', settings: '设置', audit: '审计日志' },
  common: {
    refresh: '刷新', search: '搜索', reset: '重置', cancel: '取消', confirm: '确定', save: '保存', close: '关闭',
    actions: '操作', all: '全部', none: '无', loading: '加载中…', failed: '请求失败', done: '完成', yes: '是', no: '否',
    total: '总数', more: '更多',
  },
  login: {
    title: '登录 Sentinel', password: '管理员密码', submit: '登录', required: '请输入管理员密码',
    wrong: '密码错误。', locked: '失败次数过多，请在 {time} 后重试。', lockedUnknown: '失败次数过多，请稍后重试。',
    expired: '会话已过期，请重新登录。',
  },
  dashboard: {
    today: '今日', allowed: '放行', refused: '拒绝', newBindings: '新绑定', trend: '趋势', days: '最近 {n} 天',
    bindingsByStatus: '按状态统计绑定', bindingsByRule: '按规则统计绑定', topKeys: '拒绝最多的密钥', topIps: '拒绝最多的 IP',
    count: '次数', key: '密钥', ip: 'IP', empty: '暂无拒绝记录',
  },
  status: { active: '正常', banned: '已封禁' },
  rule: {
    kind: '规则', single: '单个地址', multiple: '多个地址', all: '任意地址', learn: '学习前 N 个',
    prefixes: '地址或网段', prefix: 'IP 或 CIDR，例如 10.0.0.0/24', limit: '学习地址数', add: '添加地址',
    help: {
      single: '只允许一个 IP 地址或网段。', multiple: '1 到 256 个 IP 地址或网段。',
      all: '允许任意客户端地址：密钥不绑定。', learn: '最先出现的 N 个不同地址成为允许集合（N ≥ 2）。',
    },
    needOne: '请输入且只输入一个地址或网段', needSome: '请输入 1 到 {max} 个地址或网段', badPrefix: '不是有效的 IP 或 CIDR：{v}',
    needLimit: '数量必须在 2 到 {max} 之间',
  },
  bindings: {
    keyHint: '密钥', status: '状态', rule: '规则', firstIp: '首个 IP', lastIp: '最近 IP', createdAt: '创建时间', lastUsedAt: '最近使用',
    filterStatus: '状态', filterRule: '规则', filterIp: 'IP 或网段', findKey: '按密钥查找', findKeyPlaceholder: '粘贴 API 密钥（仅在请求体中发送）',
    find: '查找', notFound: '该密钥没有绑定', unbind: '解绑', ban: '封禁', unban: '解封', editRule: '编辑规则', detail: '详情',
    confirmUnbind: '解绑 {key}？下次使用时将重新绑定。', confirmBan: '封禁 {key}？使用该密钥的所有请求都将被拒绝。',
    confirmUnban: '解封 {key}？', bulkBan: '封禁所选（{n}）', bulkUnbind: '解绑所选（{n}）',
    confirmBulkBan: '封禁 {n} 个密钥？', confirmBulkUnbind: '解绑 {n} 个密钥？', bulkDone: '成功 {ok} 个，失败 {failed} 个',
    recentIntercepts: '最近拦截', auditEntries: '审计记录', noIntercepts: '暂无拦截', noAudit: '暂无审计记录',
    sortBy: '排序', id: 'ID', updatedAt: '更新时间', logsForBinding: '查看该绑定的日志',
    current: '当前', archived: '已归档', archivedAt: '归档时间', restore: '恢复',
    confirmRestore: '恢复 {key} 及其规则和状态？', restoreConflict: '{key} 归档后已重新绑定：请先解绑新的绑定。',
  },
  logs: {
    at: '时间', keyHint: '密钥', clientIp: '客户端 IP', reason: '原因', enforced: '已拦截', method: '方法', path: '路径', userAgent: 'User-Agent',
    filterIp: 'IP 或网段', bindingId: '绑定 ID', range: '时间范围', start: '开始', end: '结束', autoRefresh: '自动刷新', export: '导出 CSV',
    exporting: '导出中…', monitorOnly: '仅记录',
  },
  settings: {
    enforceMode: '执行模式', enforce: '拦截（拒绝）', monitor: '监控（仅记录）', failsafeMode: '存储不可用时',
    closed: '拒绝（失败关闭）', open: '放行（失败开放）', alertCount: '拒绝次数告警阈值', alertSeconds: '时间窗口（秒）',
    webhook: '告警 Webhook 地址', webhookSet: '已设置（主机 {host}）。输入新地址以替换。', webhookUnset: '未设置',
    webhookPlaceholder: 'https://hooks.example.com/…', webhookBad: '请输入 http 或 https 地址', archiveDays: '归档未使用绑定（天）', archiveHint: '0 表示从不',
    saved: '设置已保存', testWebhook: '发送测试告警', tested: '测试告警已送达 {host}（HTTP {status}，{ms} 毫秒）', testFailed: '测试告警未送达 {host}：{error}', range: '请输入 {min} 到 {max} 之间的整数', clearWebhook: '移除 Webhook',
  },
  reasons: { ip_not_allowed: 'IP 不允许', key_banned: '密钥已封禁', multiple_keys: '多个密钥', invalid_key: '无效密钥', invalid_client_ip: '客户端 IP 无效' },
  auditActions: { unbind: '解绑', set_rule: '修改规则', ban: '封禁', unban: '解封', settings: '设置', restore: '恢复', webhook_test: 'Webhook 测试' },
  audit: { changes: '变更', at: '时间', actor: '操作者', clientIp: '客户端 IP', action: '操作', bindingId: '绑定', before: '修改前', after: '修改后', range: '时间范围' },
  notFound: { title: '页面不存在', back: '返回仪表盘' },
}

export default zh
