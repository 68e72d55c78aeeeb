// A typedoc plugin for the documentation site: every page from docs/*.md is named after its first
// `# ` heading up to a colon (not its file name), and grouped: a page with an `## Agent mapping` section is a
// pattern guide ("Guides"), any other page (architecture, choosing a library, benchmarks) is
// "Project". Derived from the pages themselves, so a new guide needs no change here.
import { Converter } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_CREATE_DOCUMENT, (_context, doc) => {
    const text = doc.content.map((part) => part.text).join('');
    const title = /^#\s+(.+?)\s*$/m.exec(text)?.[1];
    if (title !== undefined && doc.frontmatter.title === undefined) {
      doc.name = title.replace(/`/g, '').split(':')[0].trim();
    }
    if (doc.frontmatter.group === undefined) {
      doc.frontmatter.group = /^##\s+Agent mapping\b/m.test(text) ? 'Guides' : 'Project';
    }
  });
}
