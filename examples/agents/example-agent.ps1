# example-agent.ps1: an EXAMPLE agent that ships with brain, so that `brain run` can be tried
# before a real agent (Claude Code) is set up. It does no real work: it reads the prompt brain
# gives it and reports what it saw. `brain init --example` puts it in agents\ and brain runs it
# with PowerShell in the brain repo, with BRAIN_TASK, BRAIN_AGENT, BRAIN_TOKEN and BRAIN_REPO set.
param([Parameter(Mandatory = $true)][string]$PromptFile)
$ErrorActionPreference = 'Stop'
$lines = Get-Content -LiteralPath $PromptFile
$title = ($lines | Where-Object { $_ -like '# Task*' } | Select-Object -First 1) -replace '^# Task:?\s*', ''
"Example agent: received task $env:BRAIN_TASK (""$title"")."
"Its prompt has $($lines.Count) lines: the overnight instructions, the task file, and any handoff for $env:BRAIN_AGENT."
"What is in the brain repo, for a real agent to start from:"
Get-ChildItem -Name | ForEach-Object { "- $_" }
'A real agent would do the work now. The second example task needs `writing`, which this example agent lacks: it waits in tasks\pending\ for Claude Code. Once Claude Code is installed, set agent = "claude-code" under [run] in brain.toml and run `brain run` again.'
