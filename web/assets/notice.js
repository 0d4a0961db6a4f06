// A page that says one thing (a connect link that did not open, written by the Worker with its
// words in English): the words in the visitor's language, from the catalogs.

import { setLang, t } from './i18n.js';

const WORDS = {
  unknown: () => [t('link.unknown.title'), t('link.unknown.text')],
  used: () => [t('link.used.title'), t('link.used.text')],
  expired: () => [t('link.expired.title'), t('link.expired.text')],
  admin: () => [t('console.refused.title'), t('console.refused.text')],
};

const words = WORDS[document.body.dataset.reason];
if (words) {
  setLang(document.documentElement.lang);
  const [title, text] = words();
  document.title = title;
  document.querySelector('h1').textContent = title;
  document.querySelector('p.lede').textContent = text;
}
