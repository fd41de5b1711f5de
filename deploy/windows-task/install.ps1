#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Installs syncd and registers its hourly Scheduled Task.

.DESCRIPTION
    1. Creates a virtual environment in -InstallDir (default C:\Program Files\syncd\venv) from a Python 3.11+
       installed for all users (a per-user Python under C:\Users is refused: the task account cannot read it).
       On an upgrade, first disables the task and waits until it is not running.
    2. Installs the pinned dependencies with hash checking (requirements.lock), then syncd itself without
       dependencies: from -Wheel (checked against -WheelSha256 or the .sha256 file beside it), or built from
       the source tree with the hash-checked setuptools of build-requirements.lock (no build isolation), so
       nothing unpinned is ever installed. syncd is reinstalled on every run.
    3. Creates C:\ProgramData\syncd with state, logs and secrets folders. Only SYSTEM and Administrators
       have full control; the task account may read everything and modify only state and logs.
    4. Checks the configuration offline (syncd check --offline). A first install with no configuration
       copies config.example.toml there and stops, so you can edit it and run this script again.
    5. Registers the task from syncd-task.xml under -TaskAccount (a gMSA by default), starts it once,
       waits for it and shows the Last Run Result.

    Running the script again upgrades syncd in place and re-registers the task; data and config are kept. A
    different -TaskAccount than before removes the old account's access to C:\ProgramData\syncd and resets
    the secrets folder's ACL to the new one.

.PARAMETER TaskAccount
    The account the task runs as. A group managed service account (DOMAIN\name$) needs no password. Any
    other account is asked for its password, which Task Scheduler stores.

.PARAMETER Python
    Path to the python.exe (3.11 or newer) used to create the virtual environment. Default: the newest
    Python that the py.exe launcher knows, else python.exe on PATH.

.PARAMETER Wheel
    A syncd wheel to install (syncd-X.Y.Z-py3-none-any.whl). Default: the source tree this script is in,
    which pip builds with the setuptools pinned (with hashes) in build-requirements.lock.

.PARAMETER WheelSha256
    The SHA-256 of -Wheel, as published with it. Default: the first word of "<wheel>.sha256" beside it.

.EXAMPLE
    .\install.ps1 -TaskAccount 'CONTOSO\svc-syncd$'
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)]
    [string] $TaskAccount,
    [string] $InstallDir = (Join-Path $env:ProgramFiles 'syncd'),
    [string] $DataDir = (Join-Path $env:ProgramData 'syncd'),
    [string] $Python = '',
    [string] $Wheel = '',
    [string] $WheelSha256 = '',
    [string] $TaskName = 'syncd',
    [string] $TaskPath = '\syncd\',
    [switch] $NoStart,
    [int] $WaitSeconds = 900
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$script:DisabledForUpgrade = $false
trap {
    # an upgrade that fails part-way leaves the task disabled rather than running a half-installed syncd
    if ($script:DisabledForUpgrade) {
        Write-Host "The task $TaskPath$TaskName stays disabled. Fix the problem and run install.ps1 again."
    }
    break
}

$SourceDir = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
$TaskXml = Join-Path $PSScriptRoot 'syncd-task.xml'
$Lock = Join-Path $SourceDir 'requirements.lock'
$BuildLock = Join-Path $SourceDir 'build-requirements.lock'
$Venv = Join-Path $InstallDir 'venv'
$VenvPython = Join-Path $Venv 'Scripts\python.exe'
$Config = Join-Path $DataDir 'syncd.toml'
$TaskNs = 'http://schemas.microsoft.com/windows/2004/02/mit/task'

# Exit codes of `syncd run` (the README's table), and the Task Scheduler states that share the column.
# https://learn.microsoft.com/en-us/windows/win32/taskschd/task-scheduler-error-and-success-constants
$ResultText = @{
    '0'          = 'OK: changes applied, or nothing to do'
    '1'          = 'internal error: see the diagnostic log'
    '2'          = 'configuration or usage error: run syncd check'
    '3'          = 'a safety guard stopped the run; nothing was applied'
    '4'          = 'partial: work held (a group missing, partial or suspicious) or changes failed; see syncd status'
    '5'          = 'a source, an expansion source or the target was unreachable or refused the credentials'
    '6'          = 'another run holds the lock; nothing was done'
    '267009'     = 'the task is still running (0x41301)'
    '267011'     = 'the task has not run yet (0x41303)'
    '267014'     = 'the task was terminated: ExecutionTimeLimit or by hand (0x41306)'
    '2147943785' = 'the task account lacks "Log on as a batch job" on this server (0x80070569)'
    '2147943726' = 'the task account could not log on: wrong or expired password (0x8007052E)'
    '2147946720' = 'the start was refused: for a gMSA, run Test-ADServiceAccount on this server (0x800710E0)'
}

function Invoke-Native {
    # Runs a program and stops the install when it fails: native commands do not throw on their own.
    param([string] $Step, [string] $Program, [string[]] $Arguments)
    Write-Host "==> $Step"
    & $Program @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "install.ps1: $Step failed (exit code $LASTEXITCODE): $Program $($Arguments -join ' ')"
    }
}

function Get-PythonPath {
    # py.exe writes warnings to stderr; under Windows PowerShell 5.1 with $ErrorActionPreference = 'Stop' a
    # redirected stderr line of a native program is a terminating error. Relax it for this call only
    # (function scope) and judge by the exit code.
    param([string] $Program, [string[]] $Arguments)
    $ErrorActionPreference = 'Continue'
    $output = & $Program @Arguments 2>$null
    if ($LASTEXITCODE -ne 0 -or -not $output) { return '' }
    return ([string] ($output | Select-Object -Last 1)).Trim()
}

function Find-Python {
    if ($Python) { return $Python }
    $launcher = Get-Command 'py.exe' -ErrorAction SilentlyContinue
    if ($launcher) {
        $found = Get-PythonPath $launcher.Source @('-3', '-c', 'import sys; print(sys.executable)')
        if ($found) { return $found }
    }
    $onPath = Get-Command 'python.exe' -ErrorAction SilentlyContinue
    if ($onPath) {
        # python.exe on PATH may be the Microsoft Store stub: ask it where it really is
        $found = Get-PythonPath $onPath.Source @('-c', 'import sys; print(sys.executable)')
        if ($found) { return $found }
    }
    throw 'install.ps1: no Python found; install Python 3.11 or newer for all users, or pass -Python C:\path\python.exe'
}

function Assert-AllUsersPython {
    # The task account must be able to read the interpreter: a per-user install (%LOCALAPPDATA%\Programs\Python,
    # the Microsoft Store's WindowsApps) lives in one person's profile, where it cannot.
    param([string] $Path)
    $full = [System.IO.Path]::GetFullPath($Path)
    $profiles = [System.IO.Path]::GetFullPath((Join-Path $env:SystemDrive 'Users'))
    if ($full.StartsWith($profiles + '\', [System.StringComparison]::OrdinalIgnoreCase) -or
        ($env:USERPROFILE -and $full.StartsWith($env:USERPROFILE + '\', [System.StringComparison]::OrdinalIgnoreCase))) {
        throw "install.ps1: $full is a per-user Python (inside a user profile): the task account cannot read it. Install Python 3.11 or newer 'for all users' (C:\Program Files\Python3xx) and run again, or pass -Python with such an interpreter."
    }
}

function Wait-TaskIdle {
    # Disable first, so no new run starts, then wait for a running one to finish its batch.
    Disable-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath | Out-Null
    Write-Host "==> disabled task $TaskPath$TaskName for the upgrade; waiting until it is not running"
    $deadline = (Get-Date).AddSeconds($WaitSeconds)
    while ((Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath).State -eq 'Running') {
        if ((Get-Date) -ge $deadline) {
            throw "install.ps1: the task is still running after $WaitSeconds s; it stays disabled. Run install.ps1 again later, or Enable-ScheduledTask -TaskPath '$TaskPath' -TaskName '$TaskName' to go back."
        }
        Start-Sleep -Seconds 5
    }
}

function Assert-GmsaUsable {
    # The gMSA prerequisites (README "Install", step 1): the AD module (RSAT-AD-PowerShell) to test it, the
    # account installed and its password retrievable here (which needs the domain's KDS root key).
    if (-not (Get-Command 'Test-ADServiceAccount' -ErrorAction SilentlyContinue)) {
        throw 'install.ps1: the ActiveDirectory module is missing, so the gMSA cannot be checked: Install-WindowsFeature RSAT-AD-PowerShell (on a client: Add-WindowsCapability -Online -Name Rsat.ActiveDirectory.DS-LDS.Tools~~~~0.0.1.0), then run again'
    }
    $gmsaName = ($TaskAccount -split '\\')[-1]
    if (-not (Test-ADServiceAccount -Identity $gmsaName)) {
        throw "install.ps1: $TaskAccount is not usable on this computer: the domain needs a KDS root key (Get-KdsRootKey on a domain controller; Add-KdsRootKey, then wait 10 hours), this computer must be in PrincipalsAllowedToRetrieveManagedPassword, then run Install-ADServiceAccount $gmsaName"
    }
}

function Test-BatchLogonRight {
    # "Log on as a batch job" (SeBatchLogonRight): without it every run fails with 0x80070569. secedit lists
    # the accounts and groups that hold it by SID; a right held only through a group cannot be seen here, so
    # this warns rather than stops.
    $sid = (New-Object System.Security.Principal.NTAccount($TaskAccount)).Translate(
        [System.Security.Principal.SecurityIdentifier]).Value
    $export = Join-Path $env:TEMP ('syncd-rights-{0}.inf' -f [guid]::NewGuid())
    try {
        & secedit.exe /export /areas USER_RIGHTS /cfg $export /quiet | Out-Null
        if ($LASTEXITCODE -ne 0) {
            Write-Warning "could not read the user rights (secedit exit $LASTEXITCODE); make sure $TaskAccount has 'Log on as a batch job'"
            return
        }
        $line = Get-Content -Path $export -Encoding Unicode | Where-Object { $_ -like 'SeBatchLogonRight*' }
        if (-not $line -or ($line -notmatch [regex]::Escape("*$sid"))) {
            Write-Warning "$TaskAccount ($sid) does not hold 'Log on as a batch job' directly. Unless a group it belongs to does, every run will fail with 0x80070569: grant it by Group Policy (Computer Configuration > Windows Settings > Security Settings > Local Policies > User Rights Assignment)."
        }
    }
    finally {
        Remove-Item -Force -ErrorAction SilentlyContinue $export
    }
}

function Get-WheelHash {
    if ($WheelSha256) { return $WheelSha256.Trim().ToLowerInvariant() }
    $sidecar = "$Wheel.sha256"
    if (-not (Test-Path $sidecar)) {
        throw "install.ps1: -Wheel needs its SHA-256: pass -WheelSha256 or put $sidecar beside it"
    }
    return ((Get-Content -Raw -Path $sidecar).Trim() -split '\s+')[0].ToLowerInvariant()
}

function Format-Result([int64] $Code) {
    # Task Scheduler reports a UInt32; keys are decimal strings so 3 and 0x800710E0 look up alike.
    $text = $ResultText[[string] $Code]
    if (-not $text) { $text = 'unknown code: see README.md beside this script' }
    return ('{0} (0x{0:X}): {1}' -f $Code, $text)
}

function Set-FolderAcl {
    # icacls takes SIDs as *S-...: SYSTEM and BUILTIN\Administrators, whatever the system language.
    param([string] $Path, [string] $AccountRight)
    Invoke-Native "restrict $Path" 'icacls.exe' @(
        $Path, '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F',
        "${TaskAccount}:(OI)(CI)$AccountRight", '/Q')
}

# -- 1. Python, the running task, and the virtual environment ---------------------------------------
$BasePython = Find-Python
Assert-AllUsersPython $BasePython
Invoke-Native "check that $BasePython is Python 3.11 or newer" $BasePython @(
    '-c', 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)')
$existing = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
$PreviousAccount = ''
if ($existing) {
    $PreviousAccount = [string] $existing.Principal.UserId
    Wait-TaskIdle
    $script:DisabledForUpgrade = $true
}
if (-not (Test-Path $VenvPython)) {
    New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
    Invoke-Native "create the virtual environment $Venv" $BasePython @('-m', 'venv', $Venv)
}

# -- 2. Dependencies (hash-checked, wheels only: servers have no compiler), then syncd itself -----------
Invoke-Native 'install the pinned dependencies from requirements.lock' $VenvPython @(
    '-m', 'pip', 'install', '--disable-pip-version-check', '--require-hashes', '--only-binary=:all:',
    '-r', $Lock)
if ($Wheel) {
    $expected = Get-WheelHash
    $actual = (Get-FileHash -Algorithm SHA256 -Path $Wheel).Hash.ToLowerInvariant()
    if ($actual -ne $expected) {
        throw "install.ps1: $Wheel has SHA-256 $actual, expected $expected; not installed"
    }
    $Package = $Wheel
}
else {
    Invoke-Native 'install the pinned build backend from build-requirements.lock' $VenvPython @(
        '-m', 'pip', 'install', '--disable-pip-version-check', '--require-hashes', '--only-binary=:all:',
        '-r', $BuildLock)
    $Package = $SourceDir
}
Invoke-Native 'install syncd (no dependencies: they all come from the lock; reinstalled on every run)' $VenvPython @(
    '-m', 'pip', 'install', '--disable-pip-version-check', '--no-deps', '--no-build-isolation',
    '--force-reinstall', $Package)
Invoke-Native 'check the installed syncd' $VenvPython @('-m', 'syncd', '--version')

# -- 3. Data folders and their ACLs -----------------------------------------------------------------------
foreach ($folder in @($DataDir, (Join-Path $DataDir 'state'), (Join-Path $DataDir 'logs'),
        (Join-Path $DataDir 'secrets'))) {
    New-Item -ItemType Directory -Force -Path $folder | Out-Null
}
if ($PreviousAccount -and $PreviousAccount -ne $TaskAccount) {
    # the old account keeps no access: its grants on the data folder and everything below are removed
    Invoke-Native "remove $PreviousAccount's access to $DataDir" 'icacls.exe' @(
        $DataDir, '/remove:g', $PreviousAccount, '/T', '/C', '/Q')
}
Set-FolderAcl $DataDir 'RX'
foreach ($writable in @('state', 'logs')) {
    Invoke-Native "let $TaskAccount modify $writable" 'icacls.exe' @(
        (Join-Path $DataDir $writable), '/grant', "${TaskAccount}:(OI)(CI)M", '/Q')
}
# secrets and every file in them inherit exactly SYSTEM, Administrators (full) and the task account (read):
# explicit entries for an earlier task account, or added by hand, are dropped
Invoke-Native 'reset the ACL of the secrets folder' 'icacls.exe' @(
    (Join-Path $DataDir 'secrets'), '/reset', '/T', '/C', '/Q')

# -- 4. Configuration ------------------------------------------------------------------------------------
if (-not (Test-Path $Config)) {
    $example = Join-Path $PSScriptRoot 'syncd.example.toml'
    if (Test-Path $example) { Copy-Item $example $Config }
    Write-Host ''
    Write-Host "No configuration yet. A starting point is in $Config."
    Write-Host 'Edit it (README.md in this folder lists the keys that must point under ProgramData), then'
    Write-Host 'run this script again to register the task.'
    exit 2
}
Invoke-Native "check $Config (offline)" $VenvPython @('-m', 'syncd', 'check', '--offline', '-c', $Config)

# -- 5. The task ------------------------------------------------------------------------------------------
[xml] $doc = Get-Content -Raw -Path $TaskXml
$ns = New-Object System.Xml.XmlNamespaceManager($doc.NameTable)
$ns.AddNamespace('t', $TaskNs)
$exec = $doc.SelectSingleNode('/t:Task/t:Actions/t:Exec', $ns)
$exec.SelectSingleNode('t:Command', $ns).InnerText = '"{0}"' -f $VenvPython
$arguments = $exec.SelectSingleNode('t:Arguments', $ns)
$arguments.InnerText = $arguments.InnerText -replace '-c "[^"]*"', ('-c "{0}"' -f $Config)
$exec.SelectSingleNode('t:WorkingDirectory', $ns).InnerText = $DataDir
$doc.SelectSingleNode('/t:Task/t:Principals/t:Principal/t:UserId', $ns).InnerText = $TaskAccount

$isGmsa = $TaskAccount.EndsWith('$')
if ($isGmsa) {
    Assert-GmsaUsable
    try {
        Register-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Xml $doc.OuterXml -Force | Out-Null
    }
    catch {
        # Some Windows builds ask for a password for LogonType Password even for a gMSA. Register the task
        # disabled under SYSTEM first; the gMSA principal is swapped in just below, then it is enabled.
        Write-Host "Registering with the gMSA directly was refused ($($_.Exception.Message)); registering disabled, then switching the account."
        $principal = $doc.SelectSingleNode('/t:Task/t:Principals/t:Principal', $ns)
        $principal.SelectSingleNode('t:UserId', $ns).InnerText = 'S-1-5-18'
        [void] $principal.RemoveChild($principal.SelectSingleNode('t:LogonType', $ns))
        $doc.SelectSingleNode('/t:Task/t:Settings/t:Enabled', $ns).InnerText = 'false'
        Register-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Xml $doc.OuterXml -Force | Out-Null
    }
    # The documented way to give a task to a gMSA: LogonType Password and no password at all.
    $gmsa = New-ScheduledTaskPrincipal -UserId $TaskAccount -LogonType Password -RunLevel Limited
    Set-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Principal $gmsa | Out-Null
    Enable-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath | Out-Null
}
else {
    $credential = Get-Credential -UserName $TaskAccount -Message "Password of $TaskAccount (stored by Task Scheduler)"
    $password = $credential.GetNetworkCredential().Password
    Register-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Xml $doc.OuterXml -Force `
        -User $TaskAccount -Password $password | Out-Null
    Remove-Variable password
}
Enable-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath | Out-Null
$script:DisabledForUpgrade = $false
Test-BatchLogonRight
Write-Host "==> registered task $TaskPath$TaskName, running as $TaskAccount every hour"

if ($NoStart) { exit 0 }

# -- 6. Start once and show the result ------------------------------------------------------------------
Start-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath
$deadline = (Get-Date).AddSeconds($WaitSeconds)
do {
    Start-Sleep -Seconds 2
    $state = (Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath).State
} while ($state -eq 'Running' -and (Get-Date) -lt $deadline)

$info = Get-ScheduledTaskInfo -TaskName $TaskName -TaskPath $TaskPath
Write-Host ''
Write-Host ('Last run:        {0}' -f $info.LastRunTime)
Write-Host ('Last run result: {0}' -f (Format-Result $info.LastTaskResult))
Write-Host ('Next run:        {0}' -f $info.NextRunTime)
Write-Host "Audit and diagnostic logs: $(Join-Path $DataDir 'logs')"
Write-Host "Status: & '$VenvPython' -m syncd status -c '$Config'"
if ($state -eq 'Running') {
    Write-Host "The first run is still going after $WaitSeconds s; check the result later with Get-ScheduledTaskInfo."
    exit 0
}
exit $info.LastTaskResult
