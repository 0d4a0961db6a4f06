// Who is signed in (`GET /v1/me`; the session cookie is HttpOnly, so the page asks). Signed
// out, the page says so and, on a local dev server, offers the dev sign-in. Signed in, the
// header names the workspace and offers Sign out (and Done inside a connect flow), and the
// page switches to the session's language and the connect session's theme.

import { api, ApiError } from './api.js';
import { fill, h } from './dom.js';
import { applySession, done, embedded, emit, forgetSession } from './embed.js';
import { setLang, t, translatePage } from './i18n.js';

/** The role in words (a role this page does not know is shown by its name). */
function roleName(role) {
  switch (role) {
    case 'owner': return t('session.role.owner');
    case 'member': return t('session.role.member');
    case 'platform-admin': return t('admin.role.platformAdmin');
    default: return role;
  }
}

/** Signs out: the service ends the session, the page forgets any it held, then reloads. */
async function signOut(button) {
  const notice = document.getElementById('notice');
  button.disabled = true;
  try {
    await api('POST', '/v1/session/sign-out');
  } catch (error) {
    // Already signed out is as good as signed out; anything else is said.
    if (!(error instanceof ApiError) || error.status !== 401) {
      button.disabled = false;
      if (notice) fill(notice, error instanceof ApiError ? error.message : t('session.signOutFailed'));
      return;
    }
  }
  forgetSession();
  emit('signed-out');
  location.reload();
}

/** The header's session area: who is signed in, Sign out, and Done in a connect flow. */
function showSignedIn(me) {
  const area = document.getElementById('session');
  if (!area) return;
  const out = h('button', { type: 'button', class: 'secondary compact', onclick: () => signOut(out) }, t('session.signOut'));
  fill(area,
    h('span', { class: 'who' }, t('session.signedIn', { tenant: me.tenant, sub: me.sub, role: roleName(me.role) })),
    out,
    embedded() ? h('button', { type: 'button', class: 'compact', onclick: () => done() }, t('common.done')) : null);
}

/**
 * The signed-in caller {sub, tenant, role, ...}, or null after rendering the signed-out view.
 * `admin`: a console page, whose dev sign-in offers the platform-admin role.
 */
export async function session(content, { admin = false } = {}) {
  // The language the server chose (<html lang>), until the session says its own.
  translatePage();
  let me;
  try {
    me = await api('GET', '/v1/me');
  } catch (error) {
    // Words only: no secret is ever in these messages.
    emit('error', { message: error instanceof ApiError ? error.message : t('session.loadFailed') });
    if (!(error instanceof ApiError) || error.status !== 401) {
      showError(content, error);
      return null;
    }
    signedOut(content, admin);
    return null;
  }
  applySession(me);
  if (me.lang) setLang(me.lang);
  translatePage();
  showSignedIn(me);
  return me;
}

/** The signed-out view; on a local dev server, with the dev sign-in form. */
function signedOut(content, admin) {
  const dev = document.body.dataset.devLogin === 'true';
  const next = location.pathname + location.search;
  fill(content,
    h('div', { class: 'empty' },
      h('h2', {}, t('session.signedOut')),
      dev
        ? [
          h('p', {}, t('session.devIntro')),
          h('form', { method: 'get', action: '/dev/login', class: 'fields' },
            h('div', { class: 'field' },
              h('label', { for: 'dev-tenant' }, t('session.workspace')),
              h('input', { id: 'dev-tenant', name: 'tenant', value: admin ? 'platform' : 'demo', required: true, autocomplete: 'off' })),
            h('div', { class: 'field' },
              h('label', { for: 'dev-role' }, t('session.roleLabel')),
              h('select', { id: 'dev-role', name: 'role' },
                admin ? h('option', { value: 'platform-admin' }, t('admin.role.platformAdminOption')) : null,
                h('option', { value: 'owner' }, t('session.owner')),
                h('option', { value: 'member' }, t('session.member')))),
            h('input', { type: 'hidden', name: 'next', value: next }),
            h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('session.devSignIn')))),
        ]
        : h('p', {}, admin ? t('admin.signInHint') : t('session.signInHint'))));
  content.removeAttribute('aria-busy');
}

/** A failure to load the page's data, in words. */
export function showError(content, error) {
  const text = error instanceof ApiError ? error.message : t('session.loadFailed');
  fill(content, h('div', { class: 'message tone-bad', role: 'alert' }, h('p', {}, text)));
  content.removeAttribute('aria-busy');
}
