# Build the Windows installer of Adversarial Studio (run in PowerShell from the repository root):
#
#   powershell -ExecutionPolicy Bypass -File packaging\build_windows.ps1 -Mnist C:\path\to\mnist
#
# Needs Python 3.11 (x64) on PATH as "py -3.11" or "python", and Inno Setup 6 (iscc.exe) for the installer.
# Steps: build venv (packaging\.buildenv) from packaging\requirements-build.txt (PyPI's Windows torch wheel is
# CPU-only), PyInstaller one-folder bundle in build\windows\advstudio, licences, the bundle's --self-test,
# a zip, and dist\advstudio-<version>-windows-x64-setup.exe from packaging\windows\advstudio.iss.
# Untested here (the project's machines are Linux): it is what packaging\ci\github-windows.yml runs.
param(
    [Parameter(Mandatory = $true)][string]$Mnist,
    [string]$Python = "",
    [switch]$SkipSelfTest
)
$ErrorActionPreference = "Stop"
$Root = Resolve-Path (Join-Path $PSScriptRoot "..")
Set-Location $Root
$Mnist = (Resolve-Path $Mnist).Path
foreach ($stem in "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte") {
    if (-not ((Test-Path "$Mnist\$stem.gz") -or (Test-Path "$Mnist\$stem"))) { throw "$Mnist has no $stem(.gz)" }
}
$Version = (Select-String -Path advstudio\__init__.py -Pattern '__version__ = "(.*)"').Matches[0].Groups[1].Value
$Venv = "packaging\.buildenv"
if (-not $Python) { $Python = if (Get-Command py -ErrorAction SilentlyContinue) { "py -3.11" } else { "python" } }

Write-Host "== build environment"
if (-not (Test-Path "$Venv\Scripts\python.exe")) { Invoke-Expression "$Python -m venv $Venv" }
& "$Venv\Scripts\python.exe" -m pip install -q -r packaging\requirements-build.txt
if ($LASTEXITCODE) { throw "pip install failed" }
& "$Venv\Scripts\python.exe" -c "import torch, importlib.util, sys; sys.exit(torch.version.cuda is not None or importlib.util.find_spec('torchvision') is not None)"
if ($LASTEXITCODE) { throw "the build venv must hold a CPU torch and no torchvision" }

Write-Host "== PyInstaller"
Remove-Item -Recurse -Force build\windows -ErrorAction SilentlyContinue
$env:ADVSTUDIO_BUNDLE_MNIST = $Mnist
& "$Venv\Scripts\python.exe" -m PyInstaller --noconfirm --log-level WARN --distpath build\windows --workpath build\windows\work packaging\advstudio.spec
if ($LASTEXITCODE) { throw "PyInstaller failed" }
$App = "build\windows\advstudio"

Write-Host "== licences"
New-Item -ItemType Directory -Force "$App\licenses" | Out-Null
Copy-Item packaging\licenses\*.txt "$App\licenses\"
Copy-Item packaging\windows\README-windows.txt "$App\README.txt"

if (-not $SkipSelfTest) {
    Write-Host "== self-test (the exe is windowed: its report goes to the log file)"
    $logs = Join-Path $env:RUNNER_TEMP "advstudio-selftest-logs"
    if (-not $env:RUNNER_TEMP) { $logs = Join-Path $env:TEMP "advstudio-selftest-logs" }
    $env:ADVSTUDIO_LOG_DIR = $logs
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $p = Start-Process -FilePath "$App\advstudio.exe" -ArgumentList "--self-test" -Wait -PassThru
    $sw.Stop()
    Get-Content "$logs\advstudio.log" | Select-String -Pattern "PASS|FAIL|SKIP|self-test|startup_s"
    Remove-Item Env:\ADVSTUDIO_LOG_DIR
    if ($p.ExitCode -ne 0) { throw "the bundle's self-test failed (exit $($p.ExitCode)); log: $logs\advstudio.log" }
    Write-Host ("self-test passed in {0:N1} s" -f $sw.Elapsed.TotalSeconds)
}

Write-Host "== archives"
New-Item -ItemType Directory -Force dist | Out-Null
Compress-Archive -Force -Path $App -DestinationPath "dist\advstudio-$Version-windows-x64.zip"
$iscc = (Get-Command iscc -ErrorAction SilentlyContinue).Source
if (-not $iscc) { $iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
if (Test-Path $iscc) {
    & $iscc "/DAppVersion=$Version" packaging\windows\advstudio.iss
    if ($LASTEXITCODE) { throw "Inno Setup failed" }
} else { Write-Warning "Inno Setup 6 (iscc.exe) not found: only the zip was made" }
Get-ChildItem dist | Format-Table Name, Length
