import { createRouter, createWebHistory } from 'vue-router'
import { useSessionStore } from './stores/session'

/** router serves the console under /admin/ui/; every page but login needs a session. */
export const router = createRouter({
  history: createWebHistory('/admin/ui/'),
  routes: [
    { path: '/login', name: 'login', component: () => import('./pages/LoginPage.vue'), meta: { public: true } },
    {
      path: '/',
      component: () => import('./components/AppLayout.vue'),
      children: [
        { path: '', name: 'dashboard', component: () => import('./pages/DashboardPage.vue') },
        { path: 'bindings', name: 'bindings', component: () => import('./pages/BindingsPage.vue') },
        { path: 'logs', name: 'logs', component: () => import('./pages/LogsPage.vue') },
        { path: 'settings', name: 'settings', component: () => import('./pages/SettingsPage.vue') },
        { path: 'audit', name: 'audit', component: () => import('./pages/AuditPage.vue') },
        { path: ':rest(.*)*', name: 'not-found', component: () => import('./pages/NotFoundPage.vue') },
      ],
    },
  ],
})

router.beforeEach((to) => {
  const session = useSessionStore()
  if (!to.meta.public && !session.token) return { name: 'login', query: { redirect: to.fullPath } }
  if (to.name === 'login' && session.token) return { path: '/' }
  return true
})
