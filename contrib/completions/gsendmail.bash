# bash completion for gsendmail(1). Account names come from
# "gsendmail accounts" (the configuration in use, honouring -C).

_gsendmail_accounts()
{
    local cfg=() i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        if [[ ${COMP_WORDS[i]} == -C ]]; then
            cfg=(-C "${COMP_WORDS[i+1]}")
        fi
    done
    gsendmail accounts "${cfg[@]}" 2>/dev/null
}

_gsendmail()
{
    local cur prev
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}

    local commands="setup auth queue doctor probe password accounts version help"
    local options="-t -i -v -f -r -F -a -C -N -R -V -B -bm -bs -bp -bi -q -I -- --account --pretend --serverinfo --version --help"

    # gsendmail COMMAND ...
    if [[ ${COMP_WORDS[0]##*/} == gsendmail && $COMP_CWORD -ge 2 ]]; then
        case ${COMP_WORDS[1]} in
        auth)
            if ((COMP_CWORD == 2)); then
                COMPREPLY=($(compgen -W "login import status logout" -- "$cur"))
            elif [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--no-browser --device" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_gsendmail_accounts)" -- "$cur"))
            fi
            return ;;
        queue)
            if ((COMP_CWORD == 2)); then
                COMPREPLY=($(compgen -W "list flush drop" -- "$cur"))
            elif [[ ${COMP_WORDS[2]} == flush ]]; then
                COMPREPLY=($(compgen -W "$(_gsendmail_accounts)" -- "$cur"))
            fi
            return ;;
        password)
            if ((COMP_CWORD == 2)); then
                COMPREPLY=($(compgen -W "set delete" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "$(_gsendmail_accounts)" -- "$cur"))
            fi
            return ;;
        doctor)
            case $prev in
            --rcpt) return ;;
            esac
            COMPREPLY=($(compgen -W "--json --rcpt $(_gsendmail_accounts)" -- "$cur"))
            return ;;
        probe)
            case $prev in
            --from|--to) return ;;
            esac
            COMPREPLY=($(compgen -W "--starttls --tls --from --to --json" -- "$cur"))
            return ;;
        setup)
            case $prev in
            --provider) COMPREPLY=($(compgen -W "gmail microsoft365 outlook fastmail icloud yahoo" -- "$cur")); return ;;
            --tls) COMPREPLY=($(compgen -W "tls starttls" -- "$cur")); return ;;
            --auth) COMPREPLY=($(compgen -W "password oauth2 none" -- "$cur")); return ;;
            --password-store) COMPREPLY=($(compgen -W "keyring file command" -- "$cur")); return ;;
            --oauth-provider) COMPREPLY=($(compgen -W "google microsoft generic" -- "$cur")); return ;;
            --login) COMPREPLY=($(compgen -W "browser paste device skip" -- "$cur")); return ;;
            --tls-trust-file|--password-file|-C|--config|--from-msmtprc) COMPREPLY=($(compgen -f -- "$cur")); return ;;
            --from-thunderbird) COMPREPLY=($(compgen -d -- "$cur")); return ;;
            --address|--account|--host|--port|--user|--password-command|--oauth-tenant|--oauth-client-id|--oauth-auth-url|--oauth-token-url|--oauth-device-url|--oauth-scopes) return ;;
            esac
            COMPREPLY=($(compgen -W "--address --account --provider --host --port --tls --tls-trust-file --auth --user --password-store --password-file --password-command --oauth-provider --oauth-tenant --oauth-client-id --no-client-secret --oauth-auth-url --oauth-token-url --oauth-device-url --oauth-scopes --login --yes --dry-run --no-doctor --from-msmtprc --from-git --from-thunderbird --with-token --force --config -C" -- "$cur"))
            return ;;
        accounts)
            [[ $prev == -C ]] && COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        esac
    fi

    case $prev in
    -a|--account) COMPREPLY=($(compgen -W "$(_gsendmail_accounts)" -- "$cur")); return ;;
    -C) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    -N) COMPREPLY=($(compgen -W "never success failure delay success,failure success,failure,delay" -- "$cur")); return ;;
    -R) COMPREPLY=($(compgen -W "full hdrs" -- "$cur")); return ;;
    -B) COMPREPLY=($(compgen -W "7BIT 8BITMIME" -- "$cur")); return ;;
    -f|-r|-F|-V) return ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
    elif [[ ${COMP_WORDS[0]##*/} == gsendmail && $COMP_CWORD -eq 1 ]]; then
        COMPREPLY=($(compgen -W "$commands" -- "$cur"))
    fi
} &&
complete -F _gsendmail gsendmail
