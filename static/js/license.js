// The page agents and admins of a site whose subscription is not active
// see instead of the app's pages (handlers/license.go): it follows Jira's
// theme, fits its frame and speaks the user's language.
import { initPage } from './connect.js';
import { loadText } from './i18n.js';

initPage();
await loadText();
