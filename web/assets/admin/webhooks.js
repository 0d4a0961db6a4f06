// Console → Webhooks: status events by the state of their webhook (dead letters first, or
// pending, delivered, never sent), each with what happened in words, its delivery, and the
// event data its webhook carries (never a key: the service puts none in it). A dead one can
// be sent again (`POST /v1/admin/webhooks/{id}/redeliver`).

import { api } from '../api.js';
import { fill, h, named, uid, when } from '../dom.js';
import { t } from '../i18n.js';
import { showError } from '../session.js';
import { eventLine, status } from '../words.js';
import { failed, query, seg } from './http.js';
import { ready, startConsole } from './nav.js';

const STATES = ['dead', 'pending', 'delivered', 'none'];

function stateName(state) {
  switch (state) {
    case 'dead': return t('admin.webhooks.dead');
    case 'pending': return t('admin.webhooks.pending');
    case 'delivered': return t('admin.webhooks.delivered');
    case 'none': return t('admin.webhooks.none');
    default: return state;
  }
}

const stateTone = (state) => ({ dead: 'bad', pending: 'warn', delivered: 'good' })[state] ?? 'neutral';

/** The event data the webhook's body carries. */
function data(event) {
  const { tenant, provider, from, to, reason, failure, at } = event;
  return { tenant, provider, from, to, reason, failure, at };
}

function item(event, live) {
  const headingId = uid('event');
  const delivery = h('span', { class: `badge tone-${stateTone(event.delivery)}` }, stateName(event.delivery));
  const attempts = h('span', {}, t('admin.webhooks.attempts', { count: event.attempts }));
  const pair = (term, value) => [h('dt', {}, term), h('dd', {}, value)];
  const article = h('article', { class: 'event', 'aria-labelledby': headingId, tabindex: '-1' },
    h('h2', { id: headingId }, t('admin.webhooks.eventHeading', { provider: event.provider, tenant: event.tenant })),
    h('p', {}, eventLine(event)),
    h('dl', { class: 'facts' },
      pair(t('admin.webhooks.change'), `${status(event.from).label} → ${status(event.to).label}`),
      pair(t('admin.webhooks.at'), when(event.at)),
      pair(t('admin.webhooks.delivery'), [delivery, ' ', attempts]),
      pair(t('admin.webhooks.id'), h('code', {}, event.id))),
    h('details', {},
      h('summary', {}, t('admin.webhooks.body')),
      h('pre', { class: 'json', tabindex: '0' }, h('code', {}, JSON.stringify(data(event), null, 2)))));
  if (event.delivery === 'dead') {
    const who = { provider: event.provider, tenant: event.tenant };
    const again = h('button', { type: 'button' }, named(t('admin.webhooks.redeliver'), t('admin.webhooks.redeliverName', who)));
    const actions = h('div', { class: 'actions' }, again);
    again.addEventListener('click', async () => {
      again.disabled = true;
      try {
        const view = await api('POST', `/v1/admin/webhooks/${seg(event.id)}/redeliver`);
        delivery.className = `badge tone-${stateTone(view.delivery)}`;
        fill(delivery, stateName(view.delivery));
        fill(attempts, t('admin.webhooks.attempts', { count: view.attempts }));
        actions.remove();
        article.focus();
        fill(live, t('admin.webhooks.redelivered', who));
      } catch (error) {
        again.disabled = false;
        fill(live, failed(error));
      }
    });
    article.append(actions);
  }
  return h('li', {}, article);
}

async function main() {
  const started = await startConsole();
  if (!started) return;
  const { content } = started;
  const pickId = uid('delivery');
  const initial = new URLSearchParams(location.search).get('delivery');
  const pick = h('select', { id: pickId },
    STATES.map((s) => h('option', { value: s, selected: s === initial ? true : null }, stateName(s))));
  const count = h('p', { class: 'count', role: 'status', 'aria-live': 'polite' });
  const live = h('p', { class: 'live', role: 'status', 'aria-live': 'polite' });
  const list = h('ul', { class: 'events' });

  async function load() {
    fill(count, t('common.loading'));
    history.replaceState(null, '', `${location.pathname}${query({ delivery: pick.value === 'dead' ? '' : pick.value })}`);
    try {
      const answer = await api('GET', `/v1/admin/webhooks${query({ delivery: pick.value })}`);
      fill(list, answer.events.map((e) => item(e, live)));
      fill(count, answer.events.length
        ? t('admin.webhooks.count', { count: answer.events.length, state: stateName(answer.delivery) })
        : t('admin.webhooks.empty', { state: stateName(answer.delivery) }));
    } catch (error) {
      fill(list);
      fill(count, failed(error));
    }
  }
  pick.addEventListener('change', load);

  try {
    fill(content,
      h('div', { class: 'toolbar' },
        h('div', { class: 'field narrow' }, h('label', { for: pickId }, t('admin.webhooks.show')), pick)),
      count,
      live,
      list);
    ready(content);
    await load();
  } catch (error) {
    showError(content, error);
  }
}

main();
