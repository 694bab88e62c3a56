; Inno Setup script for Hearth on Windows (Inno Setup 6).
;
;   python packaging\build.py bundle                 (-> packaging\dist\cpu\hearth\)
;   iscc /DAppVersion=0.1.0 packaging\windows\hearth.iss
;   -> packaging\dist\hearth-0.1.0-windows-x64-setup.exe
;
; Installs per user by default (no administrator needed) or for all users, puts Hearth in the
; Start menu, can add the folder with hearth.exe to PATH, and offers Hearth for .gguf files.
; Uninstalling removes the program only: documents, indexes, models and chats live in
; %LOCALAPPDATA%\Hearth and are never touched.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#define Bundle "..\dist\" + Variant + "\hearth"

[Setup]
AppId={{6F2B7C1E-3D4A-4E8B-9C55-1A7E0D2F4B63}
AppName=Hearth
AppVersion={#AppVersion}
AppVerName=Hearth {#AppVersion}
AppPublisher=The Hearth developers
AppCopyright=The Hearth developers, GNU AGPL v3 or later
DefaultDirName={autopf}\Hearth
DefaultGroupName=Hearth
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
LicenseFile=..\licenses\AGPL-3.0.txt
OutputDir=..\dist
OutputBaseFilename=hearth-{#AppVersion}-windows-x64-setup
SetupIconFile=..\build\hearth.ico
UninstallDisplayIcon={app}\hearth-app.exe
UninstallDisplayName=Hearth
Compression=lzma2
SolidCompression=no
ChangesAssociations=yes
ChangesEnvironment=yes
WizardStyle=modern

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the hearth command to PATH"; GroupDescription: "Command line:"
Name: "gguf"; Description: "Open .gguf model files with Hearth"; GroupDescription: "Files:"

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\Hearth"; Filename: "{app}\hearth-app.exe"; Comment: "Ask questions about your own documents, offline"
Name: "{autodesktop}\Hearth"; Filename: "{app}\hearth-app.exe"; Tasks: desktopicon

[Registry]
; .gguf -> Hearth (HKA: the current user's or the machine's classes, as installed).
Root: HKA; Subkey: "Software\Classes\.gguf\OpenWithProgids"; ValueType: string; ValueName: "Hearth.GGUF"; ValueData: ""; Flags: uninsdeletevalue; Tasks: gguf
Root: HKA; Subkey: "Software\Classes\Hearth.GGUF"; ValueType: string; ValueName: ""; ValueData: "GGUF language model"; Flags: uninsdeletekey; Tasks: gguf
Root: HKA; Subkey: "Software\Classes\Hearth.GGUF\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\hearth-app.exe,0"; Tasks: gguf
Root: HKA; Subkey: "Software\Classes\Hearth.GGUF\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\hearth-app.exe"" ""%1"""; Tasks: gguf
Root: HKA; Subkey: "Software\Classes\Applications\hearth-app.exe\SupportedTypes"; ValueType: string; ValueName: ".gguf"; ValueData: ""; Flags: uninsdeletekey; Tasks: gguf
; PATH, for the user who installs.
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Check: NeedsAddPath(ExpandConstant('{app}')); Tasks: addtopath

[Run]
Filename: "{app}\hearth-app.exe"; Description: "{cm:LaunchProgram,Hearth}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Path: string;
begin
  if not RegQueryStringValue(HKCU, 'Environment', 'Path', Path) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Path) + ';') = 0;
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
var
  Path, Dir: string;
  P: Integer;
begin
  if CurUninstallStep <> usPostUninstall then
    exit;
  if not RegQueryStringValue(HKCU, 'Environment', 'Path', Path) then
    exit;
  Dir := ExpandConstant('{app}');
  Path := ';' + Path + ';';
  P := Pos(';' + Uppercase(Dir) + ';', Uppercase(Path));
  if P > 0 then
  begin
    Delete(Path, P, Length(Dir) + 1);
    RegWriteExpandStringValue(HKCU, 'Environment', 'Path', Copy(Path, 2, Length(Path) - 2));
  end;
end;
