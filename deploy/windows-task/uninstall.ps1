#Requires -Version 5.1
#Requires -RunAsAdministrator
<#
.SYNOPSIS
    Removes the syncd Scheduled Task and the program folder; keeps the data unless -RemoveData.

.DESCRIPTION
    Waits for a running syncd to finish (at most -WaitSeconds, default the task's own 45-minute limit;
    -StopNow terminates it at once), unregisters the task (and its \syncd\ task folder when empty) and deletes
    -InstallDir (the virtual environment). C:\ProgramData\syncd holds the configuration, the state and the
    audit trail: it is kept, because the audit log is a record you may have to produce later. Pass
    -RemoveData to delete it as well.

.EXAMPLE
    .\uninstall.ps1
.EXAMPLE
    .\uninstall.ps1 -RemoveData
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [string] $InstallDir = (Join-Path $env:ProgramFiles 'syncd'),
    [string] $DataDir = (Join-Path $env:ProgramData 'syncd'),
    [string] $TaskName = 'syncd',
    [string] $TaskPath = '\syncd\',
    [switch] $RemoveData,
    [switch] $StopNow,
    [int] $WaitSeconds = 2700
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$task = Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -ErrorAction SilentlyContinue
if ($task) {
    if ($task.State -eq 'Running' -and -not $StopNow) {
        # Stop-ScheduledTask terminates the process mid-batch, and after an uninstall no later run converges
        # what it left half done: let the run finish instead.
        Write-Host "==> waiting for the running syncd to finish (at most $WaitSeconds s; -StopNow to terminate it)"
        $deadline = (Get-Date).AddSeconds($WaitSeconds)
        while ((Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath).State -eq 'Running' -and
            (Get-Date) -lt $deadline) {
            Start-Sleep -Seconds 5
        }
    }
    if ((Get-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath).State -eq 'Running') {
        Write-Host '==> terminating the running syncd; the audit log shows which changes of its batch landed'
        Stop-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath
    }
    if ($PSCmdlet.ShouldProcess("$TaskPath$TaskName", 'Unregister-ScheduledTask')) {
        Unregister-ScheduledTask -TaskName $TaskName -TaskPath $TaskPath -Confirm:$false
        Write-Host "==> unregistered task $TaskPath$TaskName"
    }
}
else {
    Write-Host "==> no task $TaskPath$TaskName registered"
}

# Remove the task folder if nothing else lives in it (the ScheduledTasks module has no cmdlet for folders).
try {
    $scheduler = New-Object -ComObject 'Schedule.Service'
    $scheduler.Connect()
    $folderName = $TaskPath.Trim('\')
    $folder = $scheduler.GetFolder("\$folderName")
    if ($folder.GetTasks(1).Count -eq 0 -and $folder.GetFolders(0).Count -eq 0) {
        $scheduler.GetFolder('\').DeleteFolder($folderName, 0)
    }
}
catch {
    Write-Verbose "task folder $TaskPath left in place: $($_.Exception.Message)"
}

if ((Test-Path $InstallDir) -and $PSCmdlet.ShouldProcess($InstallDir, 'Remove-Item -Recurse')) {
    Remove-Item -Recurse -Force $InstallDir
    Write-Host "==> removed $InstallDir"
}

if ($RemoveData) {
    if ((Test-Path $DataDir) -and $PSCmdlet.ShouldProcess($DataDir, 'Remove-Item -Recurse (config, state, audit logs)')) {
        Remove-Item -Recurse -Force $DataDir
        Write-Host "==> removed $DataDir (configuration, state and audit logs)"
    }
}
elseif (Test-Path $DataDir) {
    Write-Host "Kept $DataDir (configuration, state and audit logs). Remove it with -RemoveData when no longer needed."
}
