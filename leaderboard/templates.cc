#include "leaderboard/templates.h"

namespace corral::site {

// The CSS avoids '<' and '&' so that the page stays well-formed XML.
const char kLayoutTemplate[] = R"tpl(<!DOCTYPE html>
<html lang="en" xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{title}} · Corral</title>
<style>
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;line-height:1.45;color:#1f2328;background:#f6f8fa}
header{background:#24364b;padding:.6rem 1rem}
header nav{max-width:72rem;margin:0 auto;display:flex;flex-wrap:wrap;gap:1rem;align-items:baseline}
header a{color:#fff;text-decoration:none;font-weight:600}
header a.brand{font-size:1.2rem;margin-right:1rem}
main{max-width:72rem;margin:0 auto;padding:1rem}
footer{max-width:72rem;margin:2rem auto 0;padding:1rem;color:#59636e;font-size:.85rem;border-top:1px solid #d1d9e0}
h1{font-size:1.6rem;margin:.5rem 0}
h2{font-size:1.25rem;margin:1.5rem 0 .5rem}
h3{font-size:1.05rem;margin:1rem 0 .4rem}
a{color:#0b57d0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#fff;border:1px solid #d1d9e0;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}
table{border-collapse:collapse;background:#fff;margin:.25rem 0}
th,td{border:1px solid #d1d9e0;padding:.35rem .55rem;text-align:left;vertical-align:top}
thead th{background:#eef1f4;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
small,.muted{color:#59636e;font-size:.8rem}
.tag{display:inline-block;padding:0 .35rem;border-radius:.25rem;background:#eef1f4;font-size:.8rem}
.cell{white-space:nowrap;font-weight:600}
.cell a{color:inherit}
.s-passed{background:#dafbe1;color:#116329}
.s-no_tests{background:#effbe8;color:#3d6b1f}.s-tests_unrunnable{background:#effbe8;color:#3d6b1f}
.s-tests_failed,.s-timeout,.s-resource_exhausted{background:#ffebe9;color:#a40e26}
.s-build_failed,.s-install_failed,.s-import_failed{background:#fff1e5;color:#953800}
.s-unsupported,.s-pending,.s-none,.s-infra_error,.s-unknown{background:#eef1f4;color:#59636e}
.s-inconclusive{background:#fbefff;color:#6e40c9}
.legend{display:flex;flex-wrap:wrap;gap:.4rem;padding:0;list-style:none}
.legend li{padding:.15rem .5rem;border-radius:.25rem}
form.lookup-form{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;background:#fff;border:1px solid #d1d9e0;padding:.8rem}
form.lookup-form label{display:flex;flex-direction:column;font-size:.85rem;color:#59636e}
input,select,button{font:inherit;padding:.35rem .5rem;border:1px solid #afb8c1;border-radius:.3rem;background:#fff}
button{background:#24364b;color:#fff;border-color:#24364b;cursor:pointer}
input.copy{width:100%;box-sizing:border-box;font-family:ui-monospace,Menlo,Consolas,monospace}
.answer{margin:1rem 0;padding:1rem;border-left:.5rem solid;background:#fff}
.answer .sentence{font-size:1.6rem;line-height:1.3;margin:0 0 .5rem;font-weight:600}
.answer-yes{border-color:#1a7f37}.answer-yes .sentence{color:#116329}
.answer-no{border-color:#cf222e}.answer-no .sentence{color:#a40e26}
.answer-unsupported{border-color:#8c959f}.answer-unsupported .sentence{color:#59636e}
.answer-unknown{border-color:#bf8700}.answer-unknown .sentence{color:#7d4e00}
.result{background:#fff;border:1px solid #d1d9e0;padding:.2rem .8rem .8rem;margin:1rem 0}
.agree-yes{color:#116329}.agree-no{color:#a40e26}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem .8rem;margin:.5rem 0}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.windows a{margin-right:.6rem}
.windows a.current{font-weight:700;text-decoration:none;color:#1f2328}
.answer .word{font-size:2.2rem;font-weight:800;margin:0;line-height:1.1}
.answer-yes .word{color:#116329}.answer-no .word{color:#a40e26}.answer-unsupported .word{color:#59636e}.answer-unknown .word{color:#7d4e00}
nav.tabs{display:flex;flex-wrap:wrap;gap:.3rem;margin:.5rem 0 1rem;border-bottom:1px solid #d1d9e0}
nav.tabs a{padding:.4rem .8rem;border:1px solid #d1d9e0;border-bottom:none;border-radius:.3rem .3rem 0 0;background:#eef1f4;text-decoration:none;margin-bottom:-1px}
nav.tabs a.current{background:#fff;color:#1f2328;font-weight:700}
.suspended{display:inline-block;padding:0 .35rem;border-radius:.25rem;background:#ffebe9;color:#a40e26;font-size:.8rem;font-weight:700}
tr.is-suspended td{background:#fff5f5}
.banner{padding:.6rem .8rem;margin:.8rem 0;border-left:.4rem solid #cf222e;background:#ffebe9}
.badge-box{background:#fff;border:1px solid #d1d9e0;padding:.6rem .8rem;margin:.5rem 0}
.badge-box svg{vertical-align:middle}
.feeds a{margin-right:.8rem}
.phone-only{display:none}
@media (max-width:40rem){main{padding:.6rem}.phone-only{display:inline}.answer{padding:.7rem .6rem}table.evidence th,table.evidence td{padding:.3rem .35rem}.answer .sentence{font-size:1.2rem}.answer .word{font-size:1.8rem}dl.facts{grid-template-columns:1fr}.wide-only{display:none}h1{font-size:1.35rem;overflow-wrap:anywhere}form.lookup-form label{flex:1 1 8rem}form.lookup-form input,form.lookup-form select{width:100%;box-sizing:border-box}}
</style>
</head>
<body>
<header><nav><a class="brand" href="/">Corral</a><a href="/">Home</a><a href="/leaderboard">Leaderboard</a></nav></header>
<main>
{{{content}}}
</main>
<footer><p>Corral: volunteers build and test PyPI packages on their own machines; a result is shown once two independent volunteers agree.{{#has_json}} This page as JSON: <a href="{{json_url}}">{{json_url}}</a>.{{/has_json}}</p></footer>
</body>
</html>
)tpl";

const char kHomeTemplate[] = R"tpl(<section>
<h1>Does it work?</h1>
<p class="muted">Ask whether a PyPI project builds, installs, imports and passes its tests on an operating system with a Python version. Answers come from results two volunteers of different accounts agreed on.</p>
<form class="lookup-form" method="get" action="/lookup">
<label>Project <input type="text" name="project" value="{{form_project}}" required="required" placeholder="e.g. requests" autocapitalize="none" spellcheck="false"/></label>
<label>OS <select name="os">{{#os_options}}<option value="{{value}}"{{#selected}} selected="selected"{{/selected}}>{{label}}</option>{{/os_options}}</select></label>
<label>Python <input type="text" name="python" value="{{form_python}}" placeholder="3.11" size="6" inputmode="decimal" required="required"/></label>
<label>Implementation <select name="implementation">{{#impl_options}}<option value="{{value}}"{{#selected}} selected="selected"{{/selected}}>{{label}}</option>{{/impl_options}}</select></label>
<button type="submit">Ask</button>
</form>
</section>
{{#has_answer}}
<section class="answer answer-{{answer_class}}" id="answer">
<p class="word">{{answer_word}}</p>
<p class="sentence">{{sentence}}</p>
{{#has_newest}}<p>Newest version that works there: <strong class="newest">{{newest}}</strong></p>{{/has_newest}}
{{#has_evidence}}
<h2>Evidence</h2>
<div class="scroll"><table class="evidence">
<thead><tr><th>Version</th><th>Platform</th><th>Verdict</th><th class="num"><span class="wide-only">Volunteers agreeing</span><span class="phone-only">Agreed</span></th></tr></thead>
<tbody>
{{#evidence}}<tr><td>{{version}}</td><td>{{platform_label}} <small>{{platform}}</small></td><td class="cell s-{{status_class}}">{{#has_task}}<a href="/tasks/{{task_path}}">{{status_text}}</a>{{/has_task}}{{^has_task}}{{status_text}}{{/has_task}}</td><td class="num">{{agreeing}}</td></tr>
{{/evidence}}
</tbody>
</table></div>
{{/has_evidence}}
{{^has_evidence}}<p class="muted">No verified results to show as evidence yet.</p>{{/has_evidence}}
{{#has_newest_evidence}}
<h3>Why {{newest}} works there</h3>
<div class="scroll"><table class="evidence newest-evidence">
<thead><tr><th>Version</th><th>Platform</th><th>Verdict</th><th class="num"><span class="wide-only">Volunteers agreeing</span><span class="phone-only">Agreed</span></th></tr></thead>
<tbody>
{{#newest_evidence}}<tr><td>{{version}}</td><td>{{platform_label}} <small>{{platform}}</small></td><td class="cell s-{{status_class}}">{{#has_task}}<a href="/tasks/{{task_path}}">{{status_text}}</a>{{/has_task}}{{^has_task}}{{status_text}}{{/has_task}}</td><td class="num">{{agreeing}}</td></tr>
{{/newest_evidence}}
</tbody>
</table></div>
{{/has_newest_evidence}}
{{#has_project_link}}<p><a href="/projects/{{project_path}}">All results for {{project}}</a></p>{{/has_project_link}}
{{#has_cli}}<p class="muted">From a terminal: <code>{{cli}}</code></p>{{/has_cli}}
</section>
{{/has_answer}}
<section>
<h2>Projects</h2>
{{#has_stats}}<p class="muted">{{stats_projects}} projects · {{stats_tasks}} tasks · {{stats_verdicts}} verdicts · {{stats_volunteers}} volunteers · {{stats_results}} results</p>{{/has_stats}}
<p class="feeds">New verdicts and regressions: <a href="/feeds/verdicts.atom">Atom feed</a> <a href="/api/v1/verdicts">JSON</a></p>
{{#has_projects}}
<div class="scroll"><table class="projects">
<thead><tr><th>Project</th><th class="num">Versions</th><th class="num">Verdicts</th><th class="num">Pending</th></tr></thead>
<tbody>
{{#projects}}<tr><td><a href="/projects/{{path}}">{{name}}</a></td><td class="num">{{versions}}</td><td class="num">{{verdicts}}</td><td class="num">{{pending}}</td></tr>
{{/projects}}
</tbody>
</table></div>
{{/has_projects}}
{{^has_projects}}<p class="muted">No projects yet.</p>{{/has_projects}}
</section>
)tpl";

const char kProjectTemplate[] = R"tpl(<h1>{{project}}</h1>
{{#has_summary}}<p class="summary">{{summary}}</p>{{/has_summary}}
<div class="badge-box"><p class="badge">{{{badge_svg}}}</p>
<label class="muted" for="badge-markdown">Badge for a README (Markdown):</label>
<input class="copy" id="badge-markdown" type="text" readonly="readonly" value="{{badge_markdown}}"/>
<p class="feeds"><a href="{{badge_path}}">SVG</a><a href="{{badge_json_path}}">JSON</a><a href="{{feed_path}}">Atom feed of its verdicts</a></p></div>
<h2>Compatibility matrix</h2>
<p class="muted">Each cell is the verdict for one version on one platform; open it for the logs, failing tests, environment, the volunteers who agreed and the command to reproduce it.</p>
{{#has_versions}}
<div class="scroll"><table class="matrix">
<thead><tr><th>Version</th>{{#platforms}}<th class="platform">{{label}}<br/><small>{{tag}}</small></th>{{/platforms}}</tr></thead>
<tbody>
{{#versions}}<tr class="version-row">
<th class="version">{{version}}{{#yanked}} <span class="tag">yanked</span>{{/yanked}}{{#has_requires_python}}<br/><small>Requires-Python {{requires_python}}</small>{{/has_requires_python}}</th>
{{#cells}}<td class="cell s-{{status_class}}"{{#has_title}} title="{{title}}"{{/has_title}}>{{#has_task}}<a href="/tasks/{{task_path}}">{{status_text}}</a>{{/has_task}}{{^has_task}}{{status_text}}{{/has_task}}{{#has_counts}}<br/><small>{{agreeing}}/{{results}} agree</small>{{/has_counts}}</td>{{/cells}}
</tr>
{{/versions}}
</tbody>
</table></div>
{{/has_versions}}
{{^has_versions}}<p class="muted">No versions of this project have been ingested yet.</p>{{/has_versions}}
<h2>Legend</h2>
<ul class="legend">{{#legend}}<li class="s-{{status_class}}">{{status_text}}</li>{{/legend}}</ul>
<p class="muted">A result appears once two volunteers of different accounts agree; "inconclusive" means their replicas never agreed (a flaky build or test suite).</p>
)tpl";

const char kTaskTemplate[] = R"tpl(<h1>{{project}} {{version}} on {{platform_label}}</h1>
<p><a href="/projects/{{project_path}}">All results for {{project}}</a></p>
<dl class="facts">
<dt>Verdict</dt><dd><span class="cell s-{{status_class}}">{{status_text}}</span></dd>
{{#has_summary}}<dt>Summary</dt><dd>{{summary}}</dd>{{/has_summary}}
{{#has_evidence}}<dt>Evidence</dt><dd>{{evidence}}</dd>{{/has_evidence}}
<dt>Agreeing volunteers</dt><dd class="agreeing">{{#agreeing}}<a href="/volunteers/{{volunteer_path}}">{{volunteer_name}}</a> <small>({{account}})</small>{{^last}}, {{/last}}{{/agreeing}}{{^has_agreeing}}<span class="muted">none yet</span>{{/has_agreeing}}</dd>
<dt>Project</dt><dd><a href="/projects/{{project_path}}">{{project}}</a></dd>
<dt>Version</dt><dd>{{version}}</dd>
<dt>Platform</dt><dd>{{platform_label}} <small>{{platform}}</small></dd>
{{#has_filename}}<dt>File</dt><dd>{{filename}}</dd>{{/has_filename}}
{{#has_sha256}}<dt>SHA-256</dt><dd><code>{{sha256}}</code></dd>{{/has_sha256}}
<dt>Task</dt><dd><code>{{task_id}}</code></dd>
</dl>
<h2>Reproduce</h2>
<pre class="reproduce"><code>{{reproduce}}</code></pre>
<form class="copy" action="#"><label class="muted" for="reproduce-copy">Select to copy:</label>
<input class="copy" id="reproduce-copy" type="text" readonly="readonly" value="{{reproduce}}"/></form>
<h2>Results ({{result_count}})</h2>
{{^has_results}}<p class="muted">No volunteer has reported a result for this task yet.</p>{{/has_results}}
{{#results}}<section class="result">
<h3>Result {{index}} · <a href="/volunteers/{{volunteer_path}}">{{volunteer_name}}</a>{{#has_agrees}} · <span class="agree-{{agree_class}}">{{agree_text}}</span>{{/has_agrees}}</h3>
<dl class="facts">
<dt>Volunteer</dt><dd><a href="/volunteers/{{volunteer_path}}">{{volunteer_name}}</a> <small>{{volunteer_id}}</small></dd>
<dt>Account</dt><dd>{{#has_account_path}}<a href="/accounts/{{account_path}}">{{account}}</a>{{/has_account_path}}{{^has_account_path}}{{account}}{{/has_account_path}}</dd>
<dt>Outcome</dt><dd><span class="cell s-{{status_class}}">{{status_text}}</span></dd>
{{#has_summary}}<dt>Summary</dt><dd>{{summary}}</dd>{{/has_summary}}
{{#has_tests}}<dt>Tests</dt><dd>{{tests_passed}} passed, {{tests_failed}} failed, {{tests_errors}} errors, {{tests_skipped}} skipped, {{tests_not_run}} not run, {{tests_flaky}} flaky</dd>{{/has_tests}}
{{#has_durations}}<dt>Durations</dt><dd>build {{build_s}}, tests {{test_s}}, total {{total_s}}</dd>{{/has_durations}}
{{#has_wheel}}<dt>Wheel</dt><dd>{{wheel_filename}}<br/><small>sha256 <code>{{wheel_sha256}}</code></small><br/><small>content digest <code>{{wheel_content_digest}}</code></small></dd>{{/has_wheel}}
<dt>Isolation</dt><dd>{{isolation}}</dd>
<dt>Log</dt><dd>{{#has_log}}<a class="log" href="/api/v1/artifacts/{{log_path}}">log ({{log_short}})</a>{{/has_log}}{{^has_log}}<span class="muted">none uploaded</span>{{/has_log}}</dd>
{{#has_received}}<dt>Received</dt><dd>{{received_at}}</dd>{{/has_received}}
</dl>
{{#has_test_run}}<h3>How the suite ran</h3>
<dl class="facts suite">
<dt>Runner</dt><dd>{{suite_runner}}</dd>
<dt>Command</dt><dd><pre class="suite-command"><code>{{suite_command}}</code></pre></dd>
{{#has_found_by}}<dt>Test list from</dt><dd>{{found_by}}</dd>{{/has_found_by}}
{{#has_degraded}}<dt>Degraded</dt><dd class="degraded">{{degraded}}</dd>{{/has_degraded}}
{{#has_test_requirements}}<dt>Test requirements</dt><dd>{{#test_requirements}}<code>{{.}}</code> {{/test_requirements}}</dd>{{/has_test_requirements}}
{{#has_requirements_missing}}<dt>Not on the index</dt><dd>{{#requirements_missing}}<code>{{.}}</code> {{/requirements_missing}}</dd>{{/has_requirements_missing}}
</dl>{{/has_test_run}}
{{#has_failing}}<h3>Failing tests</h3>
<ul class="failing">{{#failing_tests}}<li><code>{{.}}</code></li>{{/failing_tests}}</ul>{{/has_failing}}
{{#has_first_failures}}<h3>First failures</h3>
{{#first_failures}}<details class="traceback" open="open"><summary><code>{{id}}</code></summary><pre><code>{{text}}</code></pre></details>
{{/first_failures}}{{/has_first_failures}}
{{#has_flaky}}<h3>Flaky tests</h3>
<p class="muted">Failed, then passed when run again: not counted as failures, and not compared between replicas.</p>
<ul class="flaky">{{#flaky}}<li><code>{{.}}</code></li>{{/flaky}}</ul>{{/has_flaky}}
{{#has_not_run}}<h3>Not run here</h3>
<p class="muted">These test modules import a library the index does not have: the harness's gap, not a failure of the package.</p>
<ul class="not-run">{{#not_run}}<li><code>{{.}}</code></li>{{/not_run}}</ul>{{/has_not_run}}
{{#has_commands}}<h3>Commands</h3>
<pre class="commands">{{#commands}}<code>{{.}}</code>
{{/commands}}</pre>{{/has_commands}}
{{#has_platform}}<h3>Platform</h3>
<div class="scroll"><table class="platform"><tbody>{{#platform_rows}}<tr><th>{{key}}</th><td>{{value}}</td></tr>{{/platform_rows}}</tbody></table></div>{{/has_platform}}
{{#has_environment}}<h3>Environment</h3>
<div class="scroll"><table class="environment"><tbody>{{#environment_rows}}<tr><th>{{key}}</th><td><code>{{value}}</code></td></tr>{{/environment_rows}}</tbody></table></div>{{/has_environment}}
</section>
{{/results}}
)tpl";

const char kLeaderboardTemplate[] = R"tpl(<h1>Leaderboard</h1>
<nav class="tabs windows" aria-label="Window">{{#windows}}<a href="/leaderboard?window={{value}}"{{#current}} class="current" aria-current="page"{{/current}}>{{label}}</a>{{/windows}}</nav>
<p class="muted">{{window_text}} {{totals}}</p>
<h2>Volunteers</h2>
{{#has_volunteers}}
<div class="scroll"><table class="volunteers">
<thead><tr><th class="num">Rank</th><th>Volunteer</th><th>Account</th><th class="num">Verified results</th><th class="num">Credit</th><th class="num">Recent average</th><th class="num">Cheaters exposed</th><th class="num wide-only">Bounty</th><th class="wide-only">Platforms</th></tr></thead>
<tbody>
{{#volunteers}}<tr{{#suspended}} class="is-suspended"{{/suspended}}><td class="num">{{rank}}</td><td><a href="/volunteers/{{path}}">{{name}}</a>{{#suspended}} <span class="suspended" title="{{suspended_reason}}">suspended</span>{{/suspended}}</td><td><a href="/accounts/{{account_path}}">{{account}}</a></td><td class="num">{{verified_results}}</td><td class="num credit">{{credit}}</td><td class="num">{{recent_average_credit}}</td><td class="num">{{cheaters_exposed}}</td><td class="num wide-only">{{bounty}}</td><td class="wide-only">{{#platforms}}<span class="tag">{{.}}</span> {{/platforms}}</td></tr>
{{/volunteers}}
</tbody>
</table></div>
{{/has_volunteers}}
{{^has_volunteers}}<p class="muted">No volunteer has a verified result in this window.</p>{{/has_volunteers}}
<h2>Accounts</h2>
{{#has_accounts}}
<div class="scroll"><table class="accounts">
<thead><tr><th class="num">Rank</th><th>Account</th><th class="num">Machines</th><th class="num">Verified results</th><th class="num">Credit</th><th class="num">Recent average</th><th class="num">Cheaters exposed</th><th class="num wide-only">Bounty</th></tr></thead>
<tbody>
{{#accounts}}<tr{{#suspended}} class="is-suspended"{{/suspended}}><td class="num">{{rank}}</td><td><a href="/accounts/{{path}}">{{name}}</a>{{#show_id}} <small>{{account_short}}</small>{{/show_id}}{{#suspended}} <span class="suspended">suspended</span>{{/suspended}}</td><td class="num">{{machines}}</td><td class="num">{{verified_results}}</td><td class="num credit">{{credit}}</td><td class="num">{{recent_average_credit}}</td><td class="num">{{cheaters_exposed}}</td><td class="num wide-only">{{bounty}}</td></tr>
{{/accounts}}
</tbody>
</table></div>
{{/has_accounts}}
{{^has_accounts}}<p class="muted">No account has a verified result in this window.</p>{{/has_accounts}}
<h2>Cheaters exposed</h2>
{{#has_cheaters}}
<div class="scroll"><table class="cheaters">
<thead><tr><th>Volunteer</th><th>Account</th><th>Suspended</th><th>Why</th><th class="num">Credit clawed back</th></tr></thead>
<tbody>
{{#cheaters}}<tr><td><a href="/volunteers/{{path}}">{{name}}</a> <span class="suspended">suspended</span></td><td><a href="/accounts/{{account_path}}">{{account}}</a></td><td>{{suspended_at}}</td><td>{{reason}}</td><td class="num">{{clawed_back}}</td></tr>
{{/cheaters}}
</tbody>
</table></div>
{{/has_cheaters}}
{{^has_cheaters}}<p class="muted">No volunteer has been caught contradicting a settled verdict.</p>{{/has_cheaters}}
<p class="muted">Credit is granted after cross-verification, from the measured cost of each task; the recent average halves every 7 days. A volunteer caught lying is suspended and loses its credit; the volunteers whose results exposed it earn a bounty. Statistics for BOINC stats sites: <a href="/stats/tables.xml">tables.xml</a>, <a href="/stats/user.gz">user.gz</a>, <a href="/stats/host.gz">host.gz</a>, <a href="/stats/team.gz">team.gz</a>.</p>
)tpl";

const char kVolunteerTemplate[] = R"tpl(<h1>{{name}}{{#suspended}} <span class="suspended">suspended</span>{{/suspended}}{{#trusted}} <span class="tag" title="its account is trusted by this coordinator's operator">trusted builder</span>{{/trusted}}{{#established}} <span class="tag" title="its results were confirmed by established volunteers of other accounts">established</span>{{/established}}{{#newcomer}} <span class="tag" title="its results count toward a verdict only beside an established volunteer's">newcomer</span>{{/newcomer}}</h1>
{{#suspended}}<p class="banner">This volunteer was caught contradicting settled verdicts{{#has_suspended_at}} on {{suspended_at}}{{/has_suspended_at}}{{#has_reason}}: {{reason}}{{/has_reason}}. Its credit ({{clawed_back}}) was clawed back and the verdicts it helped decide were reopened.</p>{{/suspended}}
<dl class="facts">
<dt>Volunteer</dt><dd><code>{{volunteer_id}}</code></dd>
<dt>Account</dt><dd>{{#has_account}}<a href="/accounts/{{account_path}}">{{account}}</a>{{/has_account}}</dd>
{{#has_enrolled}}<dt>Enrolled</dt><dd>{{enrolled_at}}</dd>{{/has_enrolled}}
<dt>Verified results</dt><dd>{{verified_results}}</dd>
<dt>Credit</dt><dd>{{credit}}</dd>
<dt>Recent average credit</dt><dd>{{recent_average_credit}} per day</dd>
<dt>Cheaters exposed</dt><dd>{{cheaters_exposed}}</dd>
<dt>Bounty earned</dt><dd>{{bounty}}</dd>
{{#has_clawed_back}}<dt>Credit clawed back</dt><dd>{{clawed_back}}</dd>{{/has_clawed_back}}
<dt>Platforms</dt><dd>{{#platforms}}<span class="tag">{{label}} <small>{{tag}}</small></span> {{/platforms}}{{^has_platforms}}<span class="muted">none</span>{{/has_platforms}}</dd>
</dl>
<h2>Recent results</h2>
{{#has_results}}
<div class="scroll"><table class="recent">
<thead><tr><th>Task</th><th>Project</th><th>Version</th><th>Platform</th><th>Outcome</th><th>Agrees</th></tr></thead>
<tbody>
{{#results}}<tr><td><a href="/tasks/{{task_path}}"><code>{{task_short}}</code></a></td><td><a href="/projects/{{project_path}}">{{project}}</a></td><td>{{version}}</td><td>{{platform_label}} <small>{{platform}}</small></td><td class="cell s-{{status_class}}">{{status_text}}</td><td class="agree-{{agree_class}}">{{agree_text}}</td></tr>
{{/results}}
</tbody>
</table></div>
{{/has_results}}
{{^has_results}}<p class="muted">No results yet.</p>{{/has_results}}
)tpl";

const char kAccountTemplate[] = R"tpl(<h1>{{name}}{{#suspended}} <span class="suspended">suspended</span>{{/suspended}}{{#trusted}} <span class="tag" title="trusted by this coordinator's operator">trusted builder</span>{{/trusted}}</h1>
{{#suspended}}<p class="banner">A machine of this account was caught contradicting settled verdicts{{#has_reason}}: {{reason}}{{/has_reason}}. Credit clawed back: {{clawed_back}}.{{#flagged}} The account is flagged: its machines get no work and it enrols none until this coordinator's operator clears it.{{/flagged}}</p>{{/suspended}}
<dl class="facts">
<dt>Account key</dt><dd><code>{{account}}</code></dd>
{{#has_created}}<dt>Created</dt><dd>{{created_at}}</dd>{{/has_created}}
<dt>Machines</dt><dd>{{machine_count}}</dd>
<dt>Verified results</dt><dd>{{verified_results}}</dd>
<dt>Credit</dt><dd>{{credit}}</dd>
<dt>Recent average credit</dt><dd>{{recent_average_credit}} per day</dd>
<dt>Cheaters exposed</dt><dd>{{cheaters_exposed}}</dd>
<dt>Bounty earned</dt><dd>{{bounty}}</dd>
{{#has_clawed_back}}<dt>Credit clawed back</dt><dd>{{clawed_back}}</dd>{{/has_clawed_back}}
</dl>
<h2>Machines</h2>
{{#has_machines}}
<div class="scroll"><table class="machines">
<thead><tr><th>Volunteer</th><th class="num">Verified results</th><th class="num">Credit</th><th class="num">Recent average</th><th class="num">Cheaters exposed</th><th class="num">Bounty</th><th class="wide-only">Platforms</th></tr></thead>
<tbody>
{{#machines}}<tr{{#suspended}} class="is-suspended"{{/suspended}}><td><a href="/volunteers/{{path}}">{{name}}</a>{{#suspended}} <span class="suspended" title="{{suspended_reason}}">suspended</span>{{/suspended}}</td><td class="num">{{verified_results}}</td><td class="num">{{credit}}</td><td class="num">{{recent_average_credit}}</td><td class="num">{{cheaters_exposed}}</td><td class="num">{{bounty}}</td><td class="wide-only">{{#platforms}}<span class="tag">{{.}}</span> {{/platforms}}</td></tr>
{{/machines}}
</tbody>
</table></div>
{{/has_machines}}
{{^has_machines}}<p class="muted">No machine has enrolled under this account yet.</p>{{/has_machines}}
)tpl";

const char kNotFoundTemplate[] = R"tpl(<h1>Not found</h1>
<p>There is no {{what}} here.</p>
<p><a href="/">Search for a project</a> or see the <a href="/leaderboard">leaderboard</a>.</p>
)tpl";

}  // namespace corral::site
