// The pages' language: the catalog of the user's language
// (static/i18n/<lang>.json, one per language, all with the same keys: a
// Go test checks them), its words with their values and plural forms,
// the page's static text, and dates and times formatted for the user's
// locale. The locale comes from the host (connect.js's locale(): Jira's,
// or Forge's through the host adapter).
import { locale } from './connect.js';

/** The languages the pages speak; the first is the fallback. */
export const LANGUAGES = ['en', 'de', 'fr', 'es', 'pl', 'pt-BR', 'ja'];

let lang = 'en'; // the catalog's language
let userLocale = 'en'; // the user's locale, for dates, times, lists and plurals
let words = {};

/** match picks the language of a locale ("de-AT" → "de", "pt-PT" → "pt-BR", "sv" → "en"). */
export function match(tag) {
  const t = String(tag || '').replace(/_/g, '-').toLowerCase();
  const exact = LANGUAGES.find((l) => l.toLowerCase() === t);
  if (exact) return exact;
  const base = t.split('-')[0];
  return LANGUAGES.find((l) => l.split('-')[0].toLowerCase() === base) || LANGUAGES[0];
}

/**
 * loadText loads the user's catalog, marks the page's language and writes
 * its static text (translate). Pages await it before they render.
 */
export async function loadText() {
  try {
    userLocale = Intl.getCanonicalLocales((await locale()) || 'en')[0];
  } catch {
    userLocale = 'en';
  }
  lang = match(userLocale);
  words = await catalog(lang);
  document.documentElement.lang = lang;
  translate(document);
}

// catalog imports a language's JSON. The path is built from LANGUAGES
// only; a bundler (the Forge build) includes every catalog.
async function catalog(l) {
  try {
    return (await import(`../i18n/${l}.json`, { with: { type: 'json' } })).default;
  } catch {
    return l === 'en' ? {} : catalog('en');
  }
}

/** language is the language the page speaks ("de"). */
export function language() {
  return lang;
}

/**
 * t words a key with values: t('presence.offlineIn', {key: 'HELP'}). A
 * value {n} chooses among plural forms ({one, few, many, other}) by the
 * language's rules. A key no catalog has is shown as itself.
 */
export function t(key, vars = {}) {
  let w = words[key];
  if (w && typeof w === 'object') {
    const n = Number(vars.n);
    w = w[new Intl.PluralRules(lang).select(Number.isFinite(n) ? n : 0)] ?? w.other;
  }
  if (typeof w !== 'string') return key;
  return w.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/**
 * translate writes the static text of root's elements: data-i18n="key"
 * sets the text, data-i18n-attr="placeholder:key;aria-label:key" sets
 * attributes.
 */
export function translate(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':');
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

/** list joins words as the language does: "Monday, Tuesday and Friday". */
export function list(items) {
  return new Intl.ListFormat(userLocale, { type: 'conjunction' }).format(items);
}

/**
 * Times are on a 24-hour clock in every language, en-US included: the
 * schedule's hours are typed and kept as HH:MM (09:00–17:00), and the
 * dialog's "next: offline at 17:00" must read as they were typed. Names
 * of days and months and the order of the parts follow the user's locale.
 */
const H23 = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };

const sameDay = (a, b) => a.toDateString() === b.toDateString();

/**
 * when formats an instant briefly in the user's locale (and zone, unless
 * one is given): "17:00" today, else with the day: "Mon 12 Jan, 09:00".
 */
export function when(iso, timeZone) {
  const d = new Date(iso);
  const opts = { ...H23, timeZone };
  if (timeZone || !sameDay(d, new Date())) Object.assign(opts, { weekday: 'short', day: 'numeric', month: 'short' });
  return new Intl.DateTimeFormat(userLocale, opts).format(d);
}

/** clock formats an instant as "17:00" in timeZone (default: the user's). */
export function clock(iso, timeZone) {
  return new Intl.DateTimeFormat(userLocale, { ...H23, timeZone }).format(new Date(iso));
}

/** dayName formats an instant's weekday in full ("Monday") in timeZone. */
export function dayName(iso, timeZone) {
  return new Intl.DateTimeFormat(userLocale, { weekday: 'long', timeZone }).format(new Date(iso));
}

/** dateTime formats an instant with its weekday, date and time, in timeZone. */
export function dateTime(iso, timeZone) {
  return new Intl.DateTimeFormat(userLocale, {
    weekday: 'long', day: 'numeric', month: 'short', ...H23, timeZone,
  }).format(new Date(iso));
}

/** shortDate formats a UTC day ("2026-11-25") as "25 Nov". */
export function shortDate(day) {
  return new Intl.DateTimeFormat(userLocale, { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(new Date(day + 'T00:00:00Z'));
}

/** number formats a number in the user's locale ("1,5" in German). */
export function number(n, digits = 1) {
  return new Intl.NumberFormat(userLocale, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(n);
}

/**
 * sentence turns an API error into a sentence for people, in the page's
 * language: the server words its messages in it (connect.js sends the
 * language with every call). A field error ("autoOfflineMinutes: must be
 * a whole number") uses the page's label of the field ("The number of
 * minutes must be a whole number.").
 */
export function sentence(e, labels = {}) {
  const cap = (s) => s.charAt(0).toLocaleUpperCase(lang) + s.slice(1);
  const end = (s) => (/[.!?。！？]$/.test(s) ? s : s + t('common.fullStop'));
  if (e && (e.code === 'network' || e.code === 'no_connect')) return t('common.' + e.code);
  if (e && e.field) {
    const base = e.field.replace(/\[\d+\].*$/, '').replace(/\..*$/, '');
    const label = labels[e.field] || labels[base];
    if (label) return end(cap(t('common.fieldProblem', { label, problem: e.detail })));
  }
  return end(cap((e && e.message) || ''));
}
