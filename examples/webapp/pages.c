/*
 * bbo-webapp: page layout and error pages. Everything shown is HTML-escaped;
 * no page needs JavaScript.
 * SPDX-License-Identifier: MIT (examples may be copied freely)
 */
#include "webapp.h"

#include <stdlib.h>
#include <string.h>

static const char style[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#172b4d;"
    "background:#f4f5f7;margin:0}"
    "header{background:#0747a6;color:#fff;padding:.8em 1.5em;display:flex;gap:1em;"
    "align-items:baseline}"
    "header a{color:#fff;font-weight:600;text-decoration:none;font-size:1.15em}"
    "header span{opacity:.8}"
    "main{max-width:46em;margin:2em auto;background:#fff;padding:1.5em 2em;"
    "border-radius:6px;box-shadow:0 1px 3px rgba(9,30,66,.25)}"
    "h1{font-size:1.5em;margin-top:0}"
    "a{color:#0052cc}"
    ".button,button{display:inline-block;background:#0052cc;color:#fff;border:0;"
    "border-radius:4px;padding:.5em 1.1em;font-size:1em;text-decoration:none;cursor:pointer}"
    "button.secondary{background:#dfe1e6;color:#172b4d}"
    "#error{border-left:4px solid #de350b;padding-left:1em}"
    "#error h1{color:#bf2600}"
    ".todo{background:#fffae6;padding:.7em 1em;border-radius:4px}"
    ".detail{color:#5e6c84;font-size:.9em}"
    "#notice{background:#e3fcef;padding:.6em 1em;border-radius:4px}"
    "ul.prs{list-style:none;padding:0}"
    "li.pr{border-top:1px solid #dfe1e6;padding:.8em 0}"
    "li.pr .author{color:#5e6c84;font-size:.9em}"
    "li.pr form{margin-top:.4em;display:flex;gap:.5em}"
    "li.pr textarea{flex:1;height:2.4em;font:inherit}"
    "input[type=text]{font-size:1em;padding:.4em;width:18em}"
    "code{background:#f4f5f7;padding:0 .3em;border-radius:3px}";

void page_begin(wbuf *b, const tenant *t, const char *title)
{
    wbuf_add(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>");
    wbuf_html(b, title);
    wbuf_add(b, " - bbo-webapp</title><style>");
    wbuf_add(b, style);
    wbuf_add(b, "</style></head>\n<body><header><a id=\"home\" href=\"");
    wbuf_html(b, t->prefix);
    wbuf_add(b, "/\">bbo-webapp</a>");
    if (t->name[0]) {
        wbuf_add(b, "<span id=\"tenant\">");
        wbuf_html(b, t->name);
        wbuf_add(b, "</span>");
    }
    wbuf_add(b, "</header>\n<main>\n");
}

void page_end(wbuf *b)
{
    wbuf_add(b, "</main></body></html>\n");
}

void page_error(reply *r, const tenant *t, int status, const char *reason, const char *title,
                const char *what, const char *todo, const char *detail)
{
    wbuf *b = &r->body;

    wbuf_free(b);
    r->status = status;
    page_begin(b, t, title);
    wbuf_add(b, "<div id=\"error\" data-reason=\"");
    wbuf_html(b, reason);
    wbuf_add(b, "\"><h1>");
    wbuf_html(b, title);
    wbuf_add(b, "</h1>\n<p id=\"what\">");
    wbuf_html(b, what);
    wbuf_add(b, "</p>\n<p id=\"todo\" class=\"todo\">");
    wbuf_html(b, todo);
    wbuf_add(b, "</p>\n");
    if (detail && *detail) {
        wbuf_add(b, "<p id=\"detail\" class=\"detail\">Details: ");
        wbuf_html(b, detail);
        wbuf_add(b, "</p>\n");
    }
    wbuf_add(b, "<p><a class=\"button\" id=\"connect\" href=\"");
    wbuf_html(b, t->prefix);
    wbuf_add(b, "/connect\">Connect Bitbucket</a> <a id=\"back\" href=\"");
    wbuf_html(b, t->prefix);
    wbuf_add(b, "/\">Back to the start page</a></p></div>\n");
    page_end(b);
}

char *permission_names(const char *scopes)
{
    bbo_scopes *set = NULL;
    char *names = NULL, *copy = NULL;

    /* the words of Bitbucket's consumer form: "Account: Read, Pull requests: Write" */
    if (bbo_scopes_parse(&set, scopes) == 0 && bbo_scopes_to_permissions(set, 0, &names) == 0)
        copy = strdup(names);
    bbo_free(names);
    bbo_scopes_free(set);
    return copy;
}

void page_missing_scopes(reply *r, const tenant *t, const char *scopes, int exact,
                         const char *detail)
{
    char *names = permission_names(scopes);
    wbuf what = {0}, todo = {0};

    if (exact)
        wbuf_add(&what, "Bitbucket did not grant this application a permission it needs for "
                        "this: ");
    else
        wbuf_add(&what, "This application requires these permissions on every connection, "
                        "and Bitbucket did not grant all of them: ");
    wbuf_add(&what, names ? names : scopes);
    wbuf_add(&what, " (scopes: ");
    wbuf_add(&what, scopes);
    wbuf_add(&what, "). Bitbucket grants what the OAuth consumer was registered with, "
                    "whatever an application asks for.");
    wbuf_add(&todo, "A workspace admin adds them on Bitbucket: Workspace settings > OAuth "
                    "consumers > the consumer with key ");
    wbuf_add(&todo, bbo_consumer_key(t->consumer));
    wbuf_add(&todo, " > Edit > Permissions: tick ");
    wbuf_add(&todo, names ? names : scopes);
    wbuf_add(&todo, ", save, then connect again here.");
    page_error(r, t, 403, "scopes", "Permissions missing", what.data ? what.data : "",
               todo.data ? todo.data : "", detail);
    wbuf_free(&what);
    wbuf_free(&todo);
    free(names);
}
