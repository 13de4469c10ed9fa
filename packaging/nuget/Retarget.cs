// Makes the netstandard2.0 assembly of the NuGet package from the one compiled against the .NET
// Framework 4.6.2 reference assemblies (Debian packages no .NET SDK and no netstandard reference
// assembly with type definitions; its facades only forward): every type reference to mscorlib,
// System or System.Core is pointed at netstandard 2.0.0.0, after checking that netstandard 2.0
// has that type (the type list of mono's netstandard facade). Any type outside netstandard 2.0
// fails the build. Uses Mono.Cecil from mono-devel.
//   mono retarget.exe IN.dll OUT.dll NETSTANDARD-FACADE.dll
using System;
using System.Collections.Generic;
using System.Linq;
using Mono.Cecil;

static class Retarget
{
    static readonly string[] Framework = { "mscorlib", "System", "System.Core" };

    static int Main(string[] args)
    {
        if (args.Length != 3) { Console.Error.WriteLine("usage: retarget.exe IN.dll OUT.dll netstandard.dll"); return 2; }
        var facade = ModuleDefinition.ReadModule(args[2]);
        var surface = new HashSet<string>(facade.ExportedTypes.Select(t => t.FullName).Concat(facade.Types.Select(t => t.FullName)));
        var netstandard = new AssemblyNameReference("netstandard", new Version(2, 0, 0, 0))
        {
            PublicKeyToken = new byte[] { 0xcc, 0x7b, 0x13, 0xff, 0xcd, 0x2d, 0xdd, 0x51 },
        };
        var module = ModuleDefinition.ReadModule(args[0]);
        var missing = new List<string>();
        int moved = 0;
        foreach (var tr in module.GetTypeReferences())
        {
            // Nested types (List`1/Enumerator) follow their declaring type, which is retargeted
            // (and checked) itself; Cecil reports the declaring type's scope for them.
            if (tr.IsNested) continue;
            var scope = tr.Scope as AssemblyNameReference;
            if (scope == null) continue;
            if (!Framework.Contains(scope.Name)) { missing.Add(tr.FullName + " (from " + scope.Name + ")"); continue; }
            if (!surface.Contains(tr.FullName)) { missing.Add(tr.FullName); continue; }
            tr.Scope = netstandard;
            moved++;
        }
        if (missing.Count > 0)
        {
            Console.Error.WriteLine("not in netstandard 2.0: " + string.Join(", ", missing));
            return 1;
        }
        foreach (var r in module.AssemblyReferences.Where(r => Framework.Contains(r.Name)).ToList())
            module.AssemblyReferences.Remove(r);
        module.AssemblyReferences.Add(netstandard);
        module.Write(args[1]);
        Console.WriteLine("retargeted " + moved + " type references to netstandard 2.0");
        return 0;
    }
}
