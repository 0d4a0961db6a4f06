// What every console page starts with: who is signed in (the shared session line) and the
// role check. The console is for platform admins: anyone else is told so and shown nothing
// more. The header's section links are in each page's markup, with aria-current="page" on
// its own (tests/browser/i18n.test.mjs checks that the seven pages list the same sections).

import { fill, h } from '../dom.js';
import { t } from '../i18n.js';
import { session } from '../session.js';

/**
 * Signs the page in: resolves to {me, content, notice} for a platform admin, else to null
 * once the page says why (signed out, or another role).
 */
export async function startConsole() {
  const content = document.getElementById('content');
  const notice = document.getElementById('notice');
  const me = await session(content, { admin: true });
  if (!me) return null;
  if (me.role !== 'platform-admin') {
    for (const el of document.querySelectorAll('header.top nav, main .lede')) el.hidden = true;
    fill(content, h('div', { class: 'message tone-warn', role: 'alert' }, h('p', {}, t('admin.notAdmin'))));
    content.removeAttribute('aria-busy');
    return null;
  }
  return { me, content, notice };
}

/** Marks the page's content as loaded. */
export function ready(content) {
  content.removeAttribute('aria-busy');
}
