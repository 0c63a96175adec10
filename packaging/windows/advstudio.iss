; Inno Setup 6 script: a per-user installer (no administrator rights needed) for the one-folder bundle that
; packaging/build_windows.ps1 builds into build\windows\advstudio\. Run by that script:
;   iscc /DAppVersion=0.1.0 packaging\windows\advstudio.iss
; Output: dist\advstudio-<version>-windows-x64-setup.exe
; Paths below are relative to this file's folder.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define AppName "Adversarial Studio"
#define AppExe "advstudio.exe"

[Setup]
AppId={{1F093630-22FC-4FF8-B938-3B94A031893F}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=The Adversarial Studio contributors
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; classroom machines: install for the current user by default; an administrator may choose all users
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
LicenseFile=..\licenses\LICENSE-advstudio.txt
SetupIconFile=..\icons\advstudio.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
OutputDir=..\..\dist
OutputBaseFilename=advstudio-{#AppVersion}-windows-x64-setup
Compression=lzma2/ultra64
SolidCompression=yes
LZMANumBlockThreads=4
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[Files]
Source: "..\..\build\windows\advstudio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Draw a digit and fool a neural network"
Name: "{autoprograms}\{#AppName} licences"; Filename: "{app}\licenses"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; byte-code caches torch may write next to its sources; user settings and logs (in %LOCALAPPDATA%) stay
Type: filesandordirs; Name: "{app}\_internal\__pycache__"
