// Who is signed in (`GET /v1/me`; the session cookie is HttpOnly, so the page asks). Signed
// out, the page says so and, on a local dev server, offers the dev sign-in.

import { api, ApiError } from './api.js';
import { fill, h } from './dom.js';

/** The signed-in caller {sub, tenant, role}, or null after rendering the signed-out view. */
export async function session(content) {
  try {
    const me = await api('GET', '/v1/me');
    fill(document.getElementById('session'), `Signed in to ${me.tenant} as ${me.sub} (${me.role})`);
    return me;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) {
      showError(content, error);
      return null;
    }
  }
  const dev = document.body.dataset.devLogin === 'true';
  const next = location.pathname + location.search;
  fill(content,
    h('div', { class: 'empty' },
      h('h2', {}, 'You are not signed in'),
      dev
        ? [
          h('p', {}, 'This is a local development server: choose a workspace and a role.'),
          h('form', { method: 'get', action: '/dev/login', class: 'fields' },
            h('div', { class: 'field' },
              h('label', { for: 'dev-tenant' }, 'Workspace'),
              h('input', { id: 'dev-tenant', name: 'tenant', value: 'demo', required: true, autocomplete: 'off' })),
            h('div', { class: 'field' },
              h('label', { for: 'dev-role' }, 'Role'),
              h('select', { id: 'dev-role', name: 'role' },
                h('option', { value: 'owner' }, 'Owner'),
                h('option', { value: 'member' }, 'Member'))),
            h('input', { type: 'hidden', name: 'next', value: next }),
            h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Sign in (development)'))),
        ]
        : h('p', {}, 'Sign in through your platform to manage integrations.')));
  content.removeAttribute('aria-busy');
  return null;
}

/** A failure to load the page's data, in words. */
export function showError(content, error) {
  const text = error instanceof ApiError ? error.message : 'Something went wrong while loading this page. Reload to try again.';
  fill(content, h('div', { class: 'message tone-bad', role: 'alert' }, h('p', {}, text)));
  content.removeAttribute('aria-busy');
}
