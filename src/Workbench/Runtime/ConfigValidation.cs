namespace Workbench.Runtime;

/// <summary>A bad configuration value: the message names the field, the value and what would be accepted.</summary>
public sealed class ConfigException(string message) : ArgumentException(message);

/// <summary>Small guards for config records' <c>Validate()</c> methods.</summary>
public static class Check
{
    public static void Positive(string config, string field, double value)
    {
        if (!(value > 0)) throw new ConfigException($"{config}.{field} = {value}: must be > 0.");
    }

    public static void NonNegative(string config, string field, double value)
    {
        if (!(value >= 0)) throw new ConfigException($"{config}.{field} = {value}: must be >= 0.");
    }

    public static void InRange(string config, string field, double value, double lo, double hi)
    {
        if (!(value >= lo && value <= hi)) throw new ConfigException($"{config}.{field} = {value}: must be in [{lo}, {hi}].");
    }

    public static void That(bool ok, string config, string field, string problemAndFix)
    {
        if (!ok) throw new ConfigException($"{config}.{field}: {problemAndFix}");
    }
}

/// <summary>The preset names every paper config offers.</summary>
public enum Preset { Test, Gpu }

public static class Presets
{
    public static Preset Parse(string? text) => (text ?? "test").Trim().ToLowerInvariant() switch
    {
        "test" => Preset.Test,
        "gpu" => Preset.Gpu,
        var other => throw new ConfigException($"Unknown preset '{other}': use test or gpu."),
    };
}
