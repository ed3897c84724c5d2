"""Pinpoint's Handlebars dialect: a compact, sandboxed template engine for message personalisation.

    template = compile_template(source)            # parsed once, cached by source text
    template.render(endpoint, defaults={"User.UserAttributes.FirstName": "there"})
    template.render(endpoint, html_escape=False)     # a text part (SMS, push): {{x}} as {{{x}}}

The source is parsed into a node tree and the tree is walked; nothing is evaluated, imported or
compiled as Python, and no attribute of any Python object is ever read. Every failure — bad syntax, an
unknown helper, a helper's bad argument, a limit reached — is a TemplateError(message, line, column).

Context
    A dict shaped like a Pinpoint endpoint: Address, ChannelType, Id, Attributes.<name> (a list of
    strings), Metrics.<name>, Demographic.*, Location.*, User.UserId, User.UserAttributes.<name> (a
    list), plus message Substitutions as top-level keys. Only dict, list, tuple, str, int, float, bool
    and None are walked (subclasses through their base type); any other object is a missing value.
    A list renders as JavaScript prints an array: comma-joined (`{{Attributes.Colors}}` → "red,blue");
    helpers take one item with `.[0]`. Numbers render as JavaScript prints them (12.0 → "12").
    A missing value (absent, None or an empty list) on a path from the root takes its
    DefaultSubstitutions entry: the path as written, then without trailing indexes
    (`User.UserAttributes.FirstName.[0]` also tries "User.UserAttributes.FirstName"); else it is "".
    Defaults apply wherever the path is read: output, helper arguments, conditions.

Syntax (as Handlebars.js 4.7; whitespace control checked against it on 60,000 random templates)
    {{path}} HTML-escaped (& < > " ' ` =), {{{path}}} and {{& path}} raw; paths `a.b`, `a/b`, `this`,
    `.`, `../` (the enclosing context), `[Last Name]`, `.[0]` and `.0`, `.length`; data `@index`,
    `@key`, `@first`, `@last`, `@root`, `@../index`; literals "s" 's' 12 -1.5 true false null
    undefined; hash arguments key=value; sub-expressions (helper a (helper b)) nested;
    {{#if}}/{{#unless}} with includeZero=true, {{else}}, {{^}}, {{else if ...}} chains (any condition
    helper, {{else each ...}} too); {{#each}} over lists and dicts with @index/@key/@first/@last,
    `this`, `as |item index|` and {{else}} when empty; {{lookup obj key}}; a plain path as a block is
    a Mustache section ({{#Location}}{{City}}{{/Location}}, {{^x}}none{{/x}}; only false, null and
    [] take its else, as in Handlebars.js); inline partials
    {{#* inline "name"}}...{{/inline}} with {{> name}}, {{> name context}}, {{> name key=value}} and
    {{> (helper)}}, scoped to the block that declares them (as in Handlebars.js, `../` inside a
    partial reaches nothing outside it); comments {{! }} and {{!-- --}}; `~`
    whitespace control and standalone-line removal; \\{{ for a literal {{.
    Truthiness is Handlebars.js's: None, false, "", [] and 0 (unless includeZero) are false; {} is true.

Helpers (Pinpoint's set; an unknown helper or a wrong argument count fails at compile time)
    Conditions, block or inline: and or not eq neq gt gte lt lte if unless. Inline they render
    yes=/no= when given, else true/false. eq: strings as strings, a number against a number or
    numeric string numerically, otherwise same type and value (a list never equals a string: use
    .[0]). gt/gte/lt/lte: numerically when both sides are numbers or numeric strings ("9" < "17"),
    else strings by code point; a missing side makes the test false.
    Strings: abbreviate v N (N >= 4, "..." counted), capitalize v [fully=true], capitalizeFirst,
    center v size=N [pad=" "], cut v [" "], dateFormat, inflect count singular plural
    [includeCount=true], join list "sep" [prefix= suffix=] (or join a b c "sep"), ljust/rjust v N or
    size=N [pad=" "], lower, upper, now, ordinalize, replace v old new, slugify (lower-case; letters,
    digits, _ and - kept; whitespace → -), stripTags, substring v start [end] (clamped), yesno v
    [yes= no= maybe=] ("true"/"false" strings count, missing → maybe). A missing value gives "".
    Dates: dateFormat date [inputFormat="MM/dd/yyyy"] [outputFormat=full|long|medium|short|pattern]
    [tz=Zone] and now ["format"] [tz=Zone]: Java SimpleDateFormat letters G y Y M L w W D d F E u a H
    k K h m s S z Z X with en-US names; full/long/medium/short are Java's en-US styles ("Saturday,
    September 19, 2020", "September 19, 2020", "Sep 19, 2020", "9/19/20"). Without inputFormat the
    date is ISO 8601 or epoch milliseconds. A date without a zone is read in tz; output is in tz;
    both default to UTC, and an unknown zone falls back to UTC as in Java.
    Math: add subtract multiply divide modulo ceiling floor round, in decimal arithmetic
    (5 * 2.3 = 11.5; divide rounds to 8 places, half up); numeric strings are accepted, a missing
    operand gives "", a non-number or a division by zero is an error.
    Encoding: encode64 decode64 md5 sha256 sha512 (of the UTF-8 text) and uuid (version 4).
    As in Pinpoint's own examples, an unquoted argument that resolves to nothing is read as its own
    text for dateFormat, now and inflect: tz=America/Los_Angeles, {{inflect 3 apple apples}}.

Not supported (each a TemplateError at compile time)
    {{#with}} ("the with helper is not supported", as in Pinpoint), partials other than inline ones
    (no files, no registry), partial blocks {{#> p}}, decorators other than inline, raw blocks
    {{{{raw}}}}, block parameters on anything but #each, helpers outside Pinpoint's set (log, ...).

Deliberately more lenient than Handlebars.js
    `{{a.1}}` (a numeric segment at the end) and a third closing brace `{{x}}}` (CSS: a{color:{{c}}})
    are accepted; Handlebars.js rejects both as parse errors.

Limits (limits.py; compile_template(source, limits=Limits(...)) for other values)
    source 600,000 characters (Pinpoint's email template cap); blocks and sub-expressions nested 50
    deep, and blocks plus partials 50 deep while rendering (a partial calling itself stops there);
    #each renders the first 15 items of a list or dict — Pinpoint documents "the maximum list size
    is 15 items" and does not call the rest an error, so the rest are left out and @last marks the
    15th (Limits(each_overflow_error=True) makes a longer list fail the render instead); output
    1,000,000 characters; 1,000,000 render steps (nodes, iterations and helper calls); 10,000,000
    characters produced by helpers, shown or not; padding and replace results larger than the
    output cap are refused before they are built. Each breach raises a TemplateError.
    Compiled templates are cached by source text: 256 entries and about 64 MB of nodes (cache.py).
"""

from .cache import BYTES_PER_TAG, TemplateCache
from .errors import TemplateError
from .limits import DEFAULT_LIMITS, Limits
from .parser import parse
from .render import Template

__all__ = ["DEFAULT_LIMITS", "Limits", "Template", "TemplateError", "compile_template"]

_CACHE = TemplateCache()


def compile_template(source: str, *, limits: Limits = DEFAULT_LIMITS) -> Template:
    """The compiled Template for `source`, from a cache of recent sources; raises TemplateError with the
    line and column of the first problem, or when the source is longer than `limits.source_chars`."""
    if not isinstance(source, str):
        raise TemplateError("a template source must be a string")
    if len(source) > limits.source_chars:
        raise TemplateError(f"the template is longer than {limits.source_chars} characters")
    key = (source, limits)
    template = _CACHE.get(key)
    if template is None:
        source = str.__str__(source)
        program, tags = parse(source, limits)
        template = Template(program, source, limits)
        _CACHE.put(key, template, len(source) + tags * BYTES_PER_TAG)
    return template
